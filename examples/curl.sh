#!/usr/bin/env bash
# The HTTP API with curl: one path per command, GET with a query string or POST with JSON.
set -euo pipefail
URL=${TXTRADER_URL:-http://127.0.0.1:50080}
AUTH=${TXTRADER_USERNAME:-txtrader_user}:${TXTRADER_PASSWORD:-change_this_password}
ACCT=REALTICKDEMO.REALTICK.DEMO32.TRADING
set -x
curl -s -u "$AUTH" "$URL/status"; echo
curl -s -u "$AUTH" "$URL/add_symbol?symbol=IBM"; echo
curl -s -u "$AUTH" -H 'Content-Type: application/json' \
  -d "{\"account\":\"$ACCT\",\"route\":\"DEMO\",\"symbol\":\"IBM\",\"quantity\":100}" "$URL/market_order"; echo
sleep 1
curl -s -u "$AUTH" "$URL/query_positions"; echo
# JSON-RPC 2.0: the same commands as methods, batches allowed
curl -s -u "$AUTH" -H 'Content-Type: application/json' -d '[
  {"jsonrpc":"2.0","method":"query_accounts","id":1},
  {"jsonrpc":"2.0","method":"query_bars","params":{"symbol":"IBM","period":"D","start":"2024-01-02","end":"2024-01-05"},"id":2}
]' "$URL/rpc"; echo
