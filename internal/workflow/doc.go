// Package workflow owns GitHub Actions workflow files as data: it loads a
// workflow file into a typed, ordered model with source positions (validated
// by github.com/rhysd/actionlint), decides whether an event triggers a
// workflow (GitHub's filter rules for types, branches, tags and paths),
// expands job matrices with GitHub's include/exclude algorithm, and orders
// jobs into stages by their needs.
//
// Expressions are not evaluated here: every value that may hold ${{ }} is
// kept as its raw string for the runner to evaluate later.
//
// Generic YAML trees (matrix, job container, services, environment, the with:
// of a reusable workflow call) are kept in an ordered JSON-like form:
//
//	object  []KV      (keys in file order)
//	array   []any
//	scalar  string, float64, bool or nil
//
// Plain YAML scalars are resolved with the YAML 1.2 core schema as GitHub
// does (0755 is the number 755, 0o10 is 8, 0xff is 255, yes/on are strings).
package workflow
