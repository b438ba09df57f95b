#!/bin/sh
# Installs the Node.js MLflow client (npm "mlflow", a client of MLflow's REST
# API 2.0 that someone else wrote) that TestNodeMLflowClient drives against
# driftd, into DRIFTD_MLFLOW_NODE (default ~/.cache/driftd/mlflow-node).
# Needs node and npm (Debian: nodejs npm).
set -eu
DIR=${DRIFTD_MLFLOW_NODE:-$HOME/.cache/driftd/mlflow-node}
VERSION=2.0.7
if [ -f "$DIR/node_modules/mlflow/package.json" ] &&
	grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/mlflow/package.json"; then
	exit 0
fi
mkdir -p "$DIR"
npm install --silent --no-audit --no-fund --prefix "$DIR" "mlflow@$VERSION" >/dev/null
echo "installed mlflow (Node.js client) $VERSION in $DIR"
