#!/usr/bin/env bash
# Runs every test of cairn. Installs what the tests need first: the S3-compatible test server
# (moto, into a venv outside the repo) that the remote tests start on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/s3-test-server.sh ]; then
  CAIRN_MOTO_SERVER="$(scripts/s3-test-server.sh)"
  export CAIRN_MOTO_SERVER
fi
cargo test --workspace --lib --bins --test integration "$@"
