#!/usr/bin/env bash
# Build (or find in the cache) hookci's guest image under DATA_DIR/image.
#
#   scripts/build-image.sh [DATA_DIR [extra `hookci image build` flags, e.g. --kernel debian]]
#
# DATA_DIR defaults to $HOOKCI_DATA_DIR, else ~/.cache/hookci (hookci's default
# data directory, where the image tests and `hookci doctor` look).
# Installs the Debian packages the build needs when they are missing (as root,
# under flock /tmp/apt.lock), then runs `go run ./cmd/hookci image build`.
# Idempotent: a cached image returns in seconds. Cold, on 2 cores: about
# 10 minutes (debootstrap in parallel with the kernel compile).
set -euo pipefail

data_dir=${1:-${HOOKCI_DATA_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/hookci}}
[ $# -gt 0 ] && shift

# What the image build and the image boot tests need from Debian (patchelf:
# the image's node bundle for job containers, package nodebundle).
packages=(
	debootstrap e2fsprogs busybox-static xz-utils coreutils kmod
	linux-source-6.1 build-essential bc flex bison libelf-dev libssl-dev
	qemu-system-x86
	patchelf
)

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
		missing+=("$p")
	fi
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" -ne 0 ]; then
		echo "$0: missing packages ${missing[*]}; run as root to install them" >&2
		exit 1
	fi
	echo "build-image: installing ${missing[*]}" >&2
	export DEBIAN_FRONTEND=noninteractive
	flock /tmp/apt.lock apt-get update -qq
	flock /tmp/apt.lock apt-get install -y -qq "${missing[@]}" >&2
fi

cd "$(dirname "$0")/.."
mkdir -p "$data_dir"
exec go run ./cmd/hookci image build --data-dir "$data_dir" "$@"
