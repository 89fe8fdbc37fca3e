#!/usr/bin/env bash
# Set everything up, then serve the example app on http://127.0.0.1:5000 (Ctrl-C stops it).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap.sh
exec .venv/bin/python examples/hello.py "$@"
