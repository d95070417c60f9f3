#!/usr/bin/env bash
# Installs the BigQuery emulator (bqemulator, pinned in requirements.txt beside this file) into its own
# virtualenv, $(repo)/.bqemulator-venv: its pins (sqlglot, duckdb, ...) differ from the project's .venv.
#
# bqemulator refuses to start without DuckDB's `spatial` extension, which it would download from the
# DuckDB extension site (unreachable here). The duckdb-extension-spatial wheel on PyPI ships that binary
# (and pins duckdb==1.5.5 for this venv); it is installed into DuckDB's per-version cache
# (~/.duckdb/extensions/v1.5.5/...), where the emulator's own `INSTALL spatial` then finds it offline.
# The project's DuckDB (2.0.1) uses its own v2.0.1 directory there, so the two never meet.
#
# Idempotent: does nothing when the venv already holds this exact lock and the extension is installed.
#   setup.sh          install (or skip)
#   setup.sh --lock   re-resolve requirements.txt (only when changing a version below)
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${BQEMULATOR_VENV:-$ROOT/.bqemulator-venv}"
LOCK="$HERE/requirements.txt"
# numpy: bqemulator registers its built-in UDFs through DuckDB create_function, which needs it.
SPEC=("bqemulator==1.4.0" "duckdb-extension-spatial==1.5.5" "numpy")
PYTHON="${PYTHON:-python3.11}"
# uv from the project's venv (make install puts it there) for speed; plain pip otherwise.
UV="$ROOT/.venv/bin/uv"

if [[ "${1:-}" == "--lock" ]]; then
  printf '%s\n' "${SPEC[@]}" | "$UV" pip compile - --python-version 3.11 --quiet \
    --custom-compile-command "tests/bigquery_emulator/setup.sh --lock" -o "$LOCK"
  exit 0
fi

STAMP="$VENV/.installed-lock"
SPATIAL_CHECK='import duckdb
rows = duckdb.sql("SELECT installed FROM duckdb_extensions() WHERE extension_name = '"'spatial'"'").fetchall()
raise SystemExit(0 if rows and rows[0][0] else 1)'
if [[ -x "$VENV/bin/bqemulator" && -f "$STAMP" ]] && cmp -s "$LOCK" "$STAMP" \
  && "$VENV/bin/python" -c "$SPATIAL_CHECK" 2>/dev/null; then
  exit 0
fi

if [[ -x "$UV" ]]; then
  [[ -x "$VENV/bin/python" ]] || "$UV" venv --quiet --python "$PYTHON" "$VENV"
  "$UV" pip sync --quiet --python "$VENV/bin/python" "$LOCK"
else
  [[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --no-deps -r "$LOCK"
fi

# Copy the shipped extension binary into DuckDB's cache (FORCE: replace a stale or partial one).
"$VENV/bin/python" -c '
from pathlib import Path

import duckdb
import duckdb_extension_spatial

binary = next(Path(duckdb_extension_spatial.__file__).parent.glob("extensions/v*/spatial.duckdb_extension"))
duckdb.execute(f"FORCE INSTALL '"'"'{binary}'"'"'")
duckdb.execute("LOAD spatial")
'
"$VENV/bin/python" -c "$SPATIAL_CHECK"
"$VENV/bin/bqemulator" --version >/dev/null
cp "$LOCK" "$STAMP"
echo "bqemulator installed in $VENV"
