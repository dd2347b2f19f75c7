// Package workflow owns GitHub Actions workflow files as data: it loads a
// workflow file into a typed, ordered model with source positions (validated
// by github.com/rhysd/actionlint), decides whether an event triggers a
// workflow (GitHub's filter rules for types, branches, tags and paths),
// expands job matrices with GitHub's include/exclude algorithm, and orders
// jobs into stages by their needs.
//
// Load rejects a file only for what GitHub rejects: YAML and schema errors
// (outside on:, which GitHub reads loosely, except on.workflow_call), bad
// needs and ids, permissions, reusable-workflow calls, expression syntax,
// unknown names and context availability, and size limits (1 MiB, depth 50,
// 200k nodes with aliases expanded, matrix vectors of at most 256 values).
// actionlint's other findings (unknown runner labels, outdated actions,
// expression type doubts…) are warnings, kept in Workflow.Warnings; Lint
// returns both kinds. Nothing runs shellcheck or pyflakes.
//
// Load evaluates no expression: every value that may hold ${{ }} is kept as
// its raw string. The model evaluates its own values on request, through
// internal/expr and an environment the caller builds: EvalTree (any raw
// tree), Job.EvalMatrix (matrix legs), RunsOn.Eval, Concurrency.Eval.
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
