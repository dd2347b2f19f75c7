#!/usr/bin/env bash
# The one command that passes all tests on a fresh Debian bookworm machine
# (as root): installs what the tests need (git, QEMU, bubblewrap, the guest
# image, cached under $HOOKCI_CACHE, default /var/cache/hookci, so a second
# run is fast), then vets, runs every test, and fuzzes the parsers briefly.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export HOOKCI_CACHE=${HOOKCI_CACHE:-/var/cache/hookci}
start=$(date +%s)

scripts/deps.sh test
scripts/build.sh
# The guest image (kernel + root filesystem) for the microvm and namespace tests.
scripts/build-image.sh "$HOOKCI_CACHE" --agent "$PWD/bin/hookci-agent"
export HOOKCI_DATA_DIR=$HOOKCI_CACHE

echo "== go vet"
go vet ./...
echo "== staticcheck"
# Pinned here, not in go.mod (a tool, not a dependency); staticcheck.conf says what is ignored and why.
go run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
unformatted=$(gofmt -l cmd internal bench 2>/dev/null || true)
if [ -n "$unformatted" ]; then
	echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go test"
go test -count=1 -timeout 45m ./...
echo "== go test: the dispatcher on PostgreSQL"
HOOKCI_TEST_STORE=postgres go test -count=1 -timeout 15m ./internal/dispatch/

echo "== fuzz (short)"
# A real finding always writes its input under testdata/fuzz/<target>/. Go's fuzzer
# sometimes ends a time-limited run with a bare "context deadline exceeded" and no
# input: that is the toolchain's race at the deadline, not a finding, so it is
# reported and the run is not failed; anything else fails.
fuzz() {
	local target=$1 pkg=$2 out dir
	dir="${pkg#./}/testdata/fuzz/$target"
	local before after
	before=$( (ls "$dir" 2>/dev/null || true) | wc -l)
	if out=$(go test -run '^$' -fuzz "^$target\$" -fuzztime "${FUZZTIME:-10s}" "$pkg" 2>&1); then
		echo "$out" | tail -2; return 0
	fi
	echo "$out" | tail -20
	after=$( (ls "$dir" 2>/dev/null || true) | wc -l)
	if [ "$after" = "$before" ] && echo "$out" | grep -q "context deadline exceeded"; then
		echo "fuzz $target: ended by the fuzzer's deadline race, no failing input: not a finding"
		return 0
	fi
	echo "fuzz $target: FAILED (new input in $dir)"; return 1
}
fuzz FuzzParse ./internal/expr
fuzz FuzzEvaluate ./internal/expr
fuzz FuzzLoad ./internal/workflow
fuzz FuzzHandler ./internal/webhook
fuzz FuzzMasker ./internal/runner

echo "== leftovers"
# Every sandbox a test started must be gone: no VM, no agent, no bubblewrap, no test PostgreSQL.
sleep 1
left=$(ps -eo pid=,stat=,args= | awk '$2 !~ /^Z/' | grep -E 'qemu-system-x86_64|hookci-agent|bwrap|hookci-pg-' | grep -v grep || true)
if [ -n "$left" ]; then
	echo "processes left behind by the tests:"; echo "$left"; exit 1
fi

echo "== all tests passed in $(( $(date +%s) - start ))s"
