// Package archtest holds no code: its test guards hookci's package graph
// (which package may import which), in the style of tailscale's deptest,
// so that the structure docs/architecture.md describes stays true.
package archtest
