#!/bin/sh
# Installs DuckDB's Node.js package, the second Parquet implementation the
# tests and make_fixtures.mjs use (a writer and reader other than the
# library driftd reads with), into DRIFTD_DUCKDB_NODE (default
# ~/.cache/driftd/duckdb-node). Needs node and npm (Debian: nodejs npm).
set -eu
DIR=${DRIFTD_DUCKDB_NODE:-$HOME/.cache/driftd/duckdb-node}
VERSION=1.5.6-r.1
if [ -f "$DIR/node_modules/@duckdb/node-api/package.json" ] &&
	grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@duckdb/node-api/package.json"; then
	exit 0
fi
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --prefix "$DIR" "@duckdb/node-api@$VERSION" >/dev/null
echo "installed @duckdb/node-api $VERSION in $DIR"
