"""The real txtrader-client against txtraderd routing orders over FIX (tests/tests/fix.rs).

The Rust test starts txtraderd with `TXTRADER_MODE=sim,fix` logged on to fix_exchange.py and
passes its address in the standard TXTRADER_* variables; FIX_ACCOUNT names the account the FIX
instance routes for. The client places orders there as it would with any back-end: market and
limit orders to fills, 1,000 shares filled in two executions, a resting order changed (with
the client's generic call, as it has no method for txtrader's own modify_order) and cancelled,
and the exchange's reject. Prints one line per step; exits non-zero on the first failure.
"""
import os
import sys
import time

from txtrader_client import API


def wait(api, oid, want, seconds=20):
    deadline = time.time() + seconds
    while True:
        o = api.query_order(oid)
        if o and o.get("status") in want:
            return o
        assert time.time() < deadline, f"order {oid} stuck: {o}"
        time.sleep(0.05)


def main():
    api = API("rtx")
    deadline = time.time() + 30
    while api.status() != "Up":
        assert time.time() < deadline, "gateway never came Up"
        time.sleep(0.1)
    account, route = os.environ["FIX_ACCOUNT"], "DEMO"
    assert account in api.query_accounts(), api.query_accounts()

    m = api.market_order(account, route, "IBM", 5)
    o = wait(api, m["permid"], {"Filled"})
    assert o["filled"] == 5, o
    print("market order filled")

    lim = api.limit_order(account, route, "IBM", 189.30, 100)
    o = wait(api, lim["permid"], {"Filled"})
    fills = api.query_order_executions(lim["permid"])
    assert len(fills) == 1 and abs(list(fills.values())[0]["PRICE"] - 189.3) < 1e-9, fills
    print("limit order filled at its price")

    big = api.market_order(account, route, "IBM", -1000)
    o = wait(api, big["permid"], {"Filled"})
    assert o["filled"] == 1000 and len(api.query_order_executions(big["permid"])) == 2, o
    print("1,000 shares filled in two executions")

    rest = api.limit_order(account, route, "IBM", 0.50, 10)
    wait(api, rest["permid"], {"Pending"})
    answer = api._call_txtrader_api("modify_order", {"id": rest["permid"], "quantity": 20, "limit_price": 0.55})
    assert answer == {"msg": "OnOtherAck", "status": "1"}, answer
    deadline = time.time() + 20
    while api.query_order(rest["permid"])["quantity"] != 20:
        assert time.time() < deadline, api.query_order(rest["permid"])
        time.sleep(0.05)
    api.cancel_order(rest["permid"])
    o = wait(api, rest["permid"], {"Cancelled"})
    print("resting order changed, then cancelled")

    bad = api.market_order(account, route, "REJECT", 10)
    o = wait(api, bad["permid"], {"Error"})
    print("reject:", o["raw"].get("REASON"))

    positions = api.query_positions()[account]
    assert positions["IBM"] == 5 + 100 - 1000, positions
    print("positions", positions)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAILED:", e, file=sys.stderr)
        sys.exit(1)
