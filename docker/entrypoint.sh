#!/bin/sh
# Initialise the node's data directory on first start, then run the given cordon command.
set -eu
if [ ! -f "$CORDON_DATA_DIR/cordon.toml" ]; then
  : "${CORDON_NODE_ID:?set CORDON_NODE_ID (e.g. MT) for the first start}"
  : "${CORDON_NODE_NAME:?set CORDON_NODE_NAME (e.g. Malta) for the first start}"
  : "${CORDON_URL:?set CORDON_URL, the base URL peers use to reach this node}"
  cordon init --node-id "$CORDON_NODE_ID" --name "$CORDON_NODE_NAME" --url "$CORDON_URL" \
    --listen "0.0.0.0:${CORDON_PORT:-8701}" ${CORDON_ROLE:+--role "$CORDON_ROLE"}
fi
exec cordon "$@"
