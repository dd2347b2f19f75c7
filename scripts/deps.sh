#!/usr/bin/env bash
# Installs the Debian packages hookci and its tests use, if any is missing.
# Idempotent; needs root (or sudo) only when something must be installed.
#
#   scripts/deps.sh [runtime|test]
set -euo pipefail
kind=${1:-test}
# slirp4netns and nftables: egress of namespace jobs and microVMs (package netjail).
packages=(git ca-certificates bubblewrap util-linux slirp4netns nftables)
# git-lfs: actions/checkout's lfs: true (the working copy is made on the hookci host).
packages+=(git-lfs)
# patchelf: the self-contained node bound into job containers (package nodebundle).
packages+=(patchelf)
# deploy/ tests: promtool and a real Prometheus, a real Caddy, and
# systemd-analyze verify of the unit (package systemd).
[ "$kind" != test ] || packages+=(prometheus caddy systemd)
if [ "$kind" = test ]; then
	packages+=(bubblewrap qemu-system-x86 qemu-utils e2fsprogs python3 procps iproute2)
	# postgresql: the store's tests start a throwaway cluster (internal/store/pgtest).
	packages+=(postgresql)
	# chromium: the dashboard's browser tests (chromedp, cmd/hookci/browser_e2e_test.go).
	packages+=(chromium)
	# docker-registry: the image tests' loopback registry (internal/oci/ocitest);
	# debootstrap builds their test images from Debian packages.
	packages+=(docker-registry debootstrap)
	# busybox-static: the microVM malicious-image attack test's static shell
	# (internal/sandbox/microvm/container_test.go).
	packages+=(busybox-static)
fi
missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	echo "deps: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	$sudo flock /tmp/apt.lock apt-get update -qq
	$sudo flock /tmp/apt.lock apt-get install -y -qq "${missing[@]}" >&2
fi
# PostgreSQL refuses to run as root: tests running as root start their
# throwaway cluster as this system user (internal/store/pgtest.TestUser).
if [ "$kind" = test ] && [ "$(id -u)" -eq 0 ] && ! id hookci-test >/dev/null 2>&1; then
	useradd --system --no-create-home --shell /usr/sbin/nologin hookci-test
fi
if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
	echo 'deps: add /usr/local/go/bin to PATH' >&2
fi
command -v go >/dev/null 2>&1 || [ -x /usr/local/go/bin/go ] || {
	echo "deps: Go 1.26 is required (https://go.dev/dl); it is not in Debian bookworm's archive" >&2
	exit 1
}
# versitygw: the real S3-compatible server the blob store's tests start
# (internal/blob/s3test), built once from the Go module proxy (~2.5 min on
# 2 cores) into a cache outside the clone; rebuilt only when the pin changes.
if [ "$kind" = test ]; then
	versitygw_version=v1.8.0
	bin_dir=${HOOKCI_TOOL_BIN:-/var/cache/hookci/bin}
	gobin=$(command -v go || echo /usr/local/go/bin/go)
	if ! "$gobin" version -m "$bin_dir/versitygw" 2>/dev/null | grep "mod[[:space:]]*github.com/versity/versitygw[[:space:]]*$versitygw_version" >/dev/null; then
		echo "deps: building versitygw $versitygw_version into $bin_dir" >&2
		mkdir -p "$bin_dir"
		(cd / && GOBIN="$bin_dir" GOFLAGS=-buildvcs=false "$gobin" install "github.com/versity/versitygw/cmd/versitygw@$versitygw_version") >&2
	fi
fi
