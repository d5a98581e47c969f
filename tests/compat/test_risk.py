"""Pre-trade risk through the real txtrader-client: a fat-finger order is refused before the
broker hears of it, answered the way the original answers a refused order (status Error, the
reason in errorMsg), so a client script sees a refused order, not an exception; JSON-RPC callers
get error -32006 with the rule, the limit and the value. The daemon runs on the built-in limits
(no TXTRADER_RISK_FILE): at most 1 000 000 per order.
"""
from conftest import wait_order

ROUTE = "DEMOEUR"


def test_a_fat_finger_order_is_refused_with_its_rule(api, account):
    before = set(api.query_orders())
    o = api.market_order(account, ROUTE, "IBM", 100000000000)
    assert o["status"] == "Error", o
    assert "max_order_quantity" in o["errorMsg"] and "1000000" in o["errorMsg"], o
    assert o["risk"]["rule"] == "max_order_quantity" and o["risk"]["value"] == "100000000000", o
    assert set(api.query_orders()) == before, "the broker never heard of it"
    # a normal order still goes through
    ok = api.market_order(account, ROUTE, "IBM", 100)
    assert wait_order(api, ok["permid"], ("Filled",))["status"] == "Filled"


def test_json_rpc_refuses_with_its_own_code(rpc, account):
    r = rpc({"jsonrpc": "2.0", "method": "market_order", "params": {"account": account, "route": ROUTE, "symbol": "IBM", "quantity": -5000000}, "id": 7})
    assert r.status_code == 200
    e = r.json()["error"]
    assert e["code"] == -32006, e
    assert e["data"]["rule"] == "max_order_quantity" and e["data"]["limit"] == "1000000" and e["data"]["value"] == "5000000", e
