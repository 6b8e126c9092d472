#!/usr/bin/env bash
# make bench: the fleet benchmark (tools/bench/run.py) -- the collection's playbooks against the
# conventional baseline (benchmarks/baseline/), N = 10, 100, 1000 emulated meters, a real broker.
#   tools/bench.sh [--sizes 10,100,1000] [--baseline-max 100] [--forks 25] [--broker role|external] ...
# Writes benchmarks/results/latest.json and latest.md; `tools/bench.sh --help` lists every option.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
[ -x "$PY" ] || { echo "no .venv: run 'make venv' first" >&2; exit 1; }
[ -e "$ROOT/.build/collections/ansible_collections/whatwatt/secure_mqtt" ] || { echo "no collection link: run 'make venv'" >&2; exit 1; }
mkdir -p "$ROOT/.bench"
chmod 0700 "$ROOT/.bench"
exec "$PY" "$ROOT/tools/bench/run.py" "$@"
