#!/usr/bin/env bash
# Runs every test: Rust unit/integration tests (SQL .slt files, CLI, conformance against
# ../shared, SQL logic tests over the Postgres wire protocol) and the Python tests with real
# clients (deltalake + polars read what Tarn writes; psql and psycopg against `tarn serve`; the
# delta-sharing connector against its Delta Sharing endpoint).
# Idempotent: installs what it needs (psql from Debian, a Python venv) on first use.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/tarn-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"

if [ ! -d ../shared ]; then
  echo "error: ../shared is missing: the tests read the fixtures beside the repository" >&2
  echo "(conformance tables, Spark's SQL golden files, TPC-H answers); put shared/ next to this clone" >&2
  exit 1
fi

echo "== cargo fmt --check, cargo clippy -D warnings"
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== cargo test (target dir: $CARGO_TARGET_DIR)"
cargo test --workspace --locked

echo "== clients"
# psql, pgjdbc (the driver under DBeaver/DataGrip/Metabase) with a JDK to run it, openssl for
# test certificates: Debian packages, installed once.
NEED=()
command -v psql >/dev/null 2>&1 || NEED+=(postgresql-client)
[ -f /usr/share/java/postgresql.jar ] || NEED+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || NEED+=(default-jdk-headless)
command -v openssl >/dev/null 2>&1 || NEED+=(openssl)
if [ "${#NEED[@]}" -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq "${NEED[@]}" >/dev/null
fi
psql --version

echo "== python (interop and real clients)"
VENV="${TARN_VENV:-$HOME/.cache/tarn-venv}"
if [ ! -x "$VENV/bin/python" ]; then
  python3 -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
# dbt (with the dbt-postgres adapter) lives in a venv of its own: its pins must not move ours.
DBT_VENV="${TARN_DBT_VENV:-$HOME/.cache/tarn-dbt-venv}"
if [ ! -x "$DBT_VENV/bin/python" ]; then
  python3 -m venv "$DBT_VENV"
fi
"$DBT_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/dbt/requirements.txt
export TARN_DBT="$DBT_VENV/bin/dbt"
# The Delta Sharing connector (it pins pandas < 3 and pyarrow <= 23) has a venv of its own too.
SHARING_VENV="${TARN_SHARING_VENV:-$HOME/.cache/tarn-sharing-venv}"
if [ ! -x "$SHARING_VENV/bin/python" ]; then
  python3 -m venv "$SHARING_VENV"
fi
"$SHARING_VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r tests/sharing/requirements.txt
# `cargo test` built the binary for the CLI tests; building it with another package selection
# would re-resolve features and recompile much of the dependency tree.
TARN_BIN="$CARGO_TARGET_DIR/debug/tarn"
if [ ! -x "$TARN_BIN" ]; then
  cargo build --locked --workspace
fi
TARN_BIN="$TARN_BIN" "$VENV/bin/python" -m pytest -q tests/python
echo "== delta sharing (the delta-sharing connector against tarn serve)"
TARN_BIN="$TARN_BIN" "$SHARING_VENV/bin/python" -m pytest -q tests/sharing
