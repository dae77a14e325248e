#!/usr/bin/env bash
# cairn vs DVC 3.x on pipelines (no-op status/repro; 1 GiB in 10,000 files). Not a test.
# Usage: bench/pipeline/run.sh [--files N] [--total-mib M] [--runs R]
set -euo pipefail
cd "$(dirname "$0")/../.."
VENV="${CAIRN_BENCH_DIR:-$HOME/.cache/cairn-bench}/dvc-venv"
[ -x "$VENV/bin/dvc" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'dvc==3.67.*'; }
cargo build --release --quiet
python3 bench/pipeline/bench.py target/release/cairn "$VENV/bin/dvc" "$@"
