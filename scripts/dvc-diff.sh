#!/usr/bin/env bash
# Runs only the differential tests against DVC (tests/dvc.rs): each case of tests/dvc/cases
# loaded by DVC and by `cairn dag --format json`. CAIRN_DVC_CASE=WORD keeps the cases whose
# name contains WORD.
set -euo pipefail
cd "$(dirname "$0")/.."
CAIRN_DVC_PYTHON="$(scripts/dvc-venv.sh)"
export CAIRN_DVC_PYTHON
cargo test --test integration dvc:: "$@"
