#!/usr/bin/env bash
# Set everything up, then serve the example blog on http://127.0.0.1:5000 (Ctrl-C stops it).
# Its SQLite database is created in examples/blog/instance/ on the first run.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap.sh
exec .venv/bin/python examples/blog/serve.py "$@"
