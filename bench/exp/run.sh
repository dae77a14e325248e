#!/usr/bin/env bash
# cairn vs DVC 3.x on experiments over the Iris reference pipeline (pipeline.yaml): queue 8 `-S`
# experiments and run them 2 at a time (wall, whole processes); `exp show --json` over those 8
# (median of R); `cairn exp show` (--json and table) over 1,000 recorded experiments. Not a test.
# Usage: [CAIRN=path/to/cairn] [DVC=path/to/dvc] bench/exp/run.sh [--runs R] [--keep]
# Without CAIRN it builds target/release/cairn; without DVC it installs dvc==3.67.* in a venv.
set -euo pipefail
cd "$(dirname "$0")/../.."
if [ -z "${DVC:-}" ]; then
  VENV="${CAIRN_BENCH_DIR:-$HOME/.cache/cairn-bench}/dvc-venv"
  [ -x "$VENV/bin/dvc" ] || { python3 -m venv "$VENV" && "$VENV/bin/pip" install -q 'dvc==3.67.*'; }
  DVC="$VENV/bin/dvc"
fi
if [ -z "${CAIRN:-}" ]; then
  cargo build --release --quiet --bin cairn
  CAIRN=target/release/cairn
fi
python3 bench/exp/bench.py "$CAIRN" "$DVC" "$@"
