#!/usr/bin/env bash
# The main job in one command: builds hookci, starts the server with its
# embedded defaults and a sample repository, sends it a real signed push
# webhook, and prints the outcome and the run's page URL. It then keeps
# serving (Ctrl-C to stop); pass --exit to stop after the run.
#
#   scripts/demo.sh [--listen 127.0.0.1:8080] [--exit]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh runtime
scripts/build.sh
exec bin/hookci demo "$@"
