#!/usr/bin/env bash
# Set everything up, then run the whole test suite (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")"
./scripts/bootstrap.sh
exec .venv/bin/python -m pytest "$@"
