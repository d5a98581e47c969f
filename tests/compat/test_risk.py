"""Pre-trade risk through the real txtrader-client: refused orders are answered the way the
original answers a refused order (status Error, the reason in errorMsg), so a client script
sees a refused order, not an exception, and the broker never hears of it; JSON-RPC callers get
error -32006 with the rule, the limit and the value. The daemon runs with
tests/fixtures/risk-conformance.toml (limits on XYZ only) over the built-in limit of 1 000 000
per order. These tests run after the other client tests (the kill switch cancels what rests).
"""
import time

import requests

from conftest import wait_order

ROUTE = "DEMOEUR"


def refused(o, rule):
    assert o["status"] == "Error", o
    assert rule in o["errorMsg"], o
    assert o["risk"]["rule"] == rule, o


def test_a_fat_finger_order_is_refused_with_its_rule(api, account):
    before = set(api.query_orders())
    o = api.market_order(account, ROUTE, "IBM", 100000000000)
    refused(o, "max_order_quantity")
    assert "1000000" in o["errorMsg"] and o["risk"]["value"] == "100000000000", o
    assert set(api.query_orders()) == before, "the broker never heard of it"
    # a normal order still goes through
    ok = api.market_order(account, ROUTE, "IBM", 100)
    assert wait_order(api, ok["permid"], ("Filled",))["status"] == "Filled"


def test_symbol_limits_refuse_with_their_rule(api, account):
    api.add_symbol("XYZ")
    deadline = time.time() + 30
    while not api.query_symbol("XYZ")["last"]:
        assert time.time() < deadline, "XYZ never traded"
        time.sleep(0.2)
    last = api.query_symbol("XYZ")["last"]
    refused(api.market_order(account, ROUTE, "XYZ", 1001), "max_order_quantity")
    refused(api.market_order(account, ROUTE, "XYZ", 301), "max_position")
    refused(api.limit_order(account, ROUTE, "XYZ", round(last * 1.2, 2), 10), "price_collar")
    refused(api.limit_order(account, ROUTE, "XYZ", round(last * 0.8, 2), -10), "price_collar")
    ok = api.market_order(account, ROUTE, "XYZ", 300)
    assert wait_order(api, ok["permid"], ("Filled",))["status"] == "Filled"
    refused(api.market_order(account, ROUTE, "XYZ", 1), "max_position")
    # reducing the position is spared the position limit
    back = api.market_order(account, ROUTE, "XYZ", -300)
    assert wait_order(api, back["permid"], ("Filled",))["status"] == "Filled"


def test_json_rpc_refuses_with_its_own_code(rpc, account):
    r = rpc({"jsonrpc": "2.0", "method": "market_order", "params": {"account": account, "route": ROUTE, "symbol": "IBM", "quantity": -5000000}, "id": 7})
    assert r.status_code == 200
    e = r.json()["error"]
    assert e["code"] == -32006, e
    assert e["data"]["rule"] == "max_order_quantity" and e["data"]["limit"] == "1000000" and e["data"]["value"] == "5000000", e


def test_the_kill_switch_halts_and_only_rearm_lifts_it(api, account, base_url, auth):
    resting = api.limit_order(account, ROUTE, "IBM", 1.05, 10)
    wait_order(api, resting["permid"], ("Pending",))
    halted = requests.post(f"{base_url}/kill_switch", json={"reason": "conformance"}, auth=auth).json()
    assert halted["state"] == "HALTED" and halted["cancels_sent"] >= 1, halted
    assert wait_order(api, resting["permid"], ("Cancelled",))["status"] == "Cancelled"
    refused(api.market_order(account, ROUTE, "IBM", 1), "halted")
    risk = requests.post(f"{base_url}/query_risk", json={}, auth=auth).json()
    assert risk["gateway"] == "HALTED" and risk["limits_file"].endswith("risk-conformance.toml"), risk
    rearmed = requests.post(f"{base_url}/rearm", json={}, auth=auth).json()
    assert rearmed["state"] == "ACTIVE" and rearmed["previous"] == "HALTED", rearmed
    ok = api.market_order(account, ROUTE, "IBM", 1)
    assert wait_order(api, ok["permid"], ("Filled",))["status"] == "Filled"
