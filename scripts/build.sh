#!/usr/bin/env bash
# Builds bin/hookci and the static bin/hookci-agent.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
version=$(git describe --always --dirty 2>/dev/null || echo dev)
go build -ldflags "-X main.version=$version" -o bin/ ./cmd/hookci
CGO_ENABLED=0 go build -o bin/ ./cmd/hookci-agent
