#!/usr/bin/env python3
"""Trade on txtraderd with the original txTrader Python client (txtrader-client 1.5.4).

    scripts/compat-venv.sh                      # once: a venv with the client
    cargo run --release --bin txtraderd &       # the gateway on the simulated exchange
    .venv-compat/bin/python examples/client.py
"""
import os
import time

os.environ.setdefault("TXTRADER_HOST", "127.0.0.1")
from txtrader_client import API  # noqa: E402

api = API()
print("status:", api.status())
account = api.query_accounts()[0]
print("account:", account)
print("IBM:", api.add_symbol("IBM"))

order = api.market_order(account, "DEMO", "IBM", 100)
print("order:", order["permid"], order["text"])
while order["status"] not in ("Filled", "Error", "Cancelled"):
    time.sleep(0.5)
    order = api.query_order(order["permid"])
print("order:", order["text"], "avg", order.get("avgfillprice"))
print("positions:", api.query_positions()[account])
print("cash:", api.query_account(account, "EXCESS_EQ")["_cash"])
