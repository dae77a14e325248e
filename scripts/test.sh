#!/usr/bin/env bash
# Runs every test of cairn. Installs what the tests need first: the S3-compatible test server
# (moto, into a venv outside the repo) that the remote tests start on 127.0.0.1, and DVC (into
# another venv) that the differential tests in tests/dvc.rs compare cairn with, NumPy and SciPy
# (a third venv) that the drift figures are checked against, the real clients of the serving
# protocols (tritonclient, MLflow's client, Schemathesis: a fourth venv), Debian's Chromium for the
# browser tests and Debian's PostgreSQL for the shared prediction log.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x scripts/s3-test-server.sh ]; then
  CAIRN_MOTO_SERVER="$(scripts/s3-test-server.sh)"
  export CAIRN_MOTO_SERVER
fi
CAIRN_DVC_PYTHON="$(scripts/dvc-venv.sh)"
export CAIRN_DVC_PYTHON
CAIRN_STATS_PYTHON="$(scripts/stats-venv.sh)"
export CAIRN_STATS_PYTHON
CAIRN_CLIENTS_PYTHON="$(scripts/clients-venv.sh)"
export CAIRN_CLIENTS_PYTHON
# Headless Chromium opens the pages cairn writes (plots) in the browser tests.
if [ ! -x /usr/bin/chromium ]; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi
export CAIRN_REQUIRE_CHROMIUM=1
# PostgreSQL's programs (the tests run initdb and postgres themselves, in temporary folders).
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
export CAIRN_REQUIRE_POSTGRES=1 CAIRN_REQUIRE_STATS=1 CAIRN_REQUIRE_CLIENTS=1
cargo test --workspace --lib --bins --test integration "$@"
