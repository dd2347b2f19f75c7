#!/usr/bin/env bash
# Runs every benchmark and prints the figures (see bench/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin:$HOME/go/bin
command -v act >/dev/null || go install github.com/nektos/act@v0.2.89
scripts/build.sh
echo "== uptime: $(uptime)"
go run ./bench/webhookload -rate 100 -duration 10s -sync full
go run ./bench/webhookload -rate 100 -duration 10s -sync normal
go run ./bench/fivestep -n 7
go run ./bench/fivestep -n 7 -sandbox namespace
go run ./bench/phases -n 7
for sb in host namespace microvm; do go run ./bench/firststep -n 8 -sandbox "$sb" || echo "firststep $sb failed"; done
go run ./bench/microvm -n 5 -only cold,template,memory,cpu,workspace,gobuild || echo "microvm bench failed (no QEMU or image?)"
go run ./bench/dashboard -runs 100000 -page 1000
go run ./bench/liveviewers -n 5 -viewers 200
go test -run '^$' -bench . -benchtime 2s ./internal/expr | grep -E '^Benchmark'
go test -run '^$' -bench PlanRealworld -benchtime 3x ./internal/workflow | grep -E '^Benchmark'
go test -run '^$' -bench FiveRunSteps -benchtime 20x ./internal/runner | grep -E '^Benchmark'
