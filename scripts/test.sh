#!/usr/bin/env bash
# Runs every test of cairn. Installs what the tests need first: the S3-compatible test server
# (moto, into a venv outside the repo) that the remote tests start on 127.0.0.1, and DVC (into
# another venv) that the differential tests in tests/dvc.rs compare cairn with.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/s3-test-server.sh ]; then
  CAIRN_MOTO_SERVER="$(scripts/s3-test-server.sh)"
  export CAIRN_MOTO_SERVER
fi
CAIRN_DVC_PYTHON="$(scripts/dvc-venv.sh)"
export CAIRN_DVC_PYTHON
cargo test --workspace --lib --bins --test integration "$@"
