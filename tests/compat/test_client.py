"""Conformance of txtraderd with the real txtrader-client 1.5.4 (library and CLI).

Each test states a behaviour existing txTrader clients and scripts rely on
(../shared/spec/txtrader-protocol.md, sections 1, 3, 4 and 6). The gateway runs on the simulated
exchange with TXTRADER_API_ROUTE=DEMOEUR, as the original's deployments did, with the machine's
clock in UTC and in Asia/Tokyo (tests/tests/conformance.rs runs the suite in both).
"""
import json
import os
import re
import subprocess
import time

import pytest
import requests

from conftest import wait_order

ROUTE = "DEMOEUR"


ORIGINAL_COMMANDS = set(
    "add_symbol cancel_order del_symbol gateway_logoff gateway_logon get_order_route global_cancel help "
    "limit_order market_order query_account query_accounts query_bars query_execution query_executions "
    "query_order query_order_executions query_orders query_positions query_symbol query_symbol_bars "
    "query_symbol_data query_symbols query_tickets set_account set_order_route set_primary_exchange shutdown "
    "stage_market_order status stop_order stoplimit_order time uptime version".split()
)
assert len(ORIGINAL_COMMANDS) == 35


# ----- server information


def test_status_version_uptime_help(api):
    assert api.status() == "Up"
    v = api.version()
    assert list(v.keys()) == ["txtrader", "python", "flags", "revision"]
    assert set(v["flags"]) == {"TICKER", "HIGH_LOW", "BARCHART", "SYMBOL_BARCHART", "SECONDS_TICK", "TIME_OFFSET"}
    assert v["flags"]["BARCHART"] is True and v["flags"]["SYMBOL_BARCHART"] is False
    assert re.match(r"^started \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \(elapsed \d*:\d*:\d*\.\d*\)$", api.uptime())
    h = api.help()
    assert type(h) is dict and "market_order" in h
    # the 35 commands of txTrader 1.14.29, plus txtraderd's adapter, strategy, journal and risk
    # operator commands, and order changes
    assert set(h) - ORIGINAL_COMMANDS == {
        "query_adapters", "reload_adapter", "unload_adapter",
        "deploy_strategy", "query_strategies", "start_strategy", "stop_strategy",
        "query_journal", "compact_journal",
        "kill_switch", "rearm", "set_trading_state", "query_risk",
        "modify_order",
    }
    assert ORIGINAL_COMMANDS <= set(h)


def test_time_follows_the_feed_clock(api):
    deadline = time.time() + 5
    t = api.time()
    while t == "None" and time.time() < deadline:
        time.sleep(0.2)
        t = api.time()
    assert re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$", t), t


# ----- symbols

def test_symbols(api):
    x = api.add_symbol("IBM")
    assert x and x["symbol"] == "IBM"
    for k in ("symbol", "fullname", "tradetime", "cusip"):
        assert type(x[k]) is str, k
    for k in ("last", "open", "high", "low", "close", "vwap"):
        assert type(x[k]) is float, k
    for k in ("size", "volume"):
        assert type(x[k]) is int, k
    assert list(x)[:10] == ["symbol", "last", "tradetime", "size", "volume", "open", "close", "vwap", "fullname", "cusip"]
    assert "bid" not in x, "ticker fields only with TXTRADER_ENABLE_TICKER=1"
    assert "IBM" in api.query_symbols()
    assert api.add_symbol("BADSYMBOL") is None
    assert "BADSYMBOL" not in api.query_symbols()

    # an inactive symbol is subscribed by query_symbol
    if "AAPL" in api.query_symbols():
        assert api.del_symbol("AAPL") is True
    p = api.query_symbol("aapl")
    assert p and p["symbol"] == "AAPL"
    assert "AAPL" in api.query_symbols()
    assert api.del_symbol("AAPL") is True
    assert "AAPL" not in api.query_symbols()
    assert api.del_symbol("AAPL") is False

    raw = api.query_symbol_data("IBM")
    assert raw["STARTTIME"] == "09:30:00" and raw["STOPTIME"] == "16:00:00"
    assert raw["DISP_NAME"] == "IBM" and raw["CUSIP"] == x["cusip"]
    assert api.query_symbol_data("NOTADDED") is None
    assert api.query_symbol_bars("IBM") == []
    assert api.query_symbol_bars("NOTADDED") is None
    all_ = api.query_all_symbols()
    assert type(all_) is dict and all_["IBM"]["symbol"] == "IBM"


# ----- bars

def _check_bars(bars):
    assert type(bars) is list and bars
    for bar in bars:
        assert len(bar) == 7
        d, t, o, h, l, c, v = bar
        assert re.match(r"^\d{4}-\d{2}-\d{2}$", d) and re.match(r"^\d{2}:\d{2}:\d{2}$", t)
        assert all(type(p) is float for p in (o, h, l, c)) and type(v) is int
        assert l <= o <= h and l <= c <= h


def test_historical_bars(api, backend):
    assert api.add_symbol("SPY")
    bars = api.query_bars("SPY", 1, "2017-08-29 09:30:00", "2017-08-29 09:40:00")
    _check_bars(bars)
    # naive times are in TXTRADER_API_TIMEZONE (New York, like the feed), whatever the machine's zone
    assert [b[1] for b in bars] == ["09:%02d:00" % m for m in range(30, 41)]
    assert all(b[0] == "2017-08-29" for b in bars)
    assert api.query_bars("SPY", 1, "2017-08-29 09:30:00", "2017-08-29 09:40:00") == bars, "deterministic"
    _check_bars(api.query_bars("SPY", 1, "2017-07-06 09:30:00", "2017-07-06 09:40:00"))
    days = api.query_bars("SPY", "D", "2017-07-03 00:00:00", "2017-07-14 00:00:00")
    _check_bars(days)
    # the simulator's calendar has weekdays only; the fake RTGW charts every calendar day
    assert len(days) == (10 if backend == "sim" else 12), "weekdays only" if backend == "sim" else days
    fives = api.query_bars("SPY", 5, "2017-08-29 09:30:00", "2017-08-29 10:29:00")
    assert len(fives) == 12
    assert api.query_bars("NOTACTIVE", 1, "2017-08-29 09:30:00", "2017-08-29 09:40:00") is None
    assert api.query_bars("SPY", 1, "2017-08-29 09:30", "2017-08-29 09:40:00") is None, "seconds are required"


# ----- accounts and positions

def test_accounts(api, account):
    accts = api.query_accounts()
    assert type(accts) is list and accts == sorted(accts)
    assert os.environ["TXTRADER_API_ACCOUNT"] in accts
    assert api.set_account(account) is True
    assert api.set_account("NO.SUCH.ACCOUNT.HERE") is False
    data = api.query_account(account)
    assert type(data["_cash"]) is float and data["_cash"] == round(float(data["EXCESS_EQ"]), 2)
    assert {"EXCESS_EQ", "CASH_BALANCE", "NOTIONAL_AMOUNT"} <= set(data)
    assert set(api.query_account(account, "CASH_BALANCE")) == {"CASH_BALANCE"}
    assert set(api.query_account(account, "EXCESS_EQ,NOTIONAL_AMOUNT")) == {"EXCESS_EQ", "NOTIONAL_AMOUNT", "_cash"}
    assert set(api.query_account(account, "CASH_BALANCE,NOTIONAL_AMOUNT,CURRENCY")) == {"CASH_BALANCE", "NOTIONAL_AMOUNT", "CURRENCY"}
    assert api.query_account("b.b.b.INVALID_ACCOUNT") is None
    assert api.query_account(account, "INVALID_FIELD") is None
    assert api.query_account(account, "INVALID_FIELD_1,INVALID_FIELD_2") is None
    with pytest.raises(TypeError):
        api.query_account(account, {"invalid": True})


def test_positions_move_with_fills(api, account):
    def pos():
        p = api.query_positions()
        assert set(api.query_accounts()) <= set(p)
        return p[account].get("GE", 0)

    before = pos()
    o = api.market_order(account, ROUTE, "GE", "10")
    wait_order(api, o["permid"], {"Filled"})
    assert pos() == before + 10
    o = api.market_order(account, ROUTE, "GE", "-10")
    assert o["raw"]["BUYORSELL"] == "Sell"
    wait_order(api, o["permid"], {"Filled"})
    assert pos() == before


# ----- orders and executions

def test_market_order_to_filled_with_execution(api, account):
    o = api.market_order(account, ROUTE, "AAPL", 100)
    assert type(o["permid"]) is str and o["status"] in ("Submitted", "Pending")
    assert o["class"] == "order" and o["type"] == "UserSubmitOrder" and o["origin"] == "client"
    assert o["updates"][0]["id"] == "(init)"
    permid = o["permid"]
    f = wait_order(api, permid, {"Filled", "Error"})
    assert f["status"] == "Filled" and f["filled"] == 100 and f["remaining"] == 0
    assert f["text"] == "Buy 100 AAPL (Filled)"
    orders = api.query_orders()
    assert permid in orders and orders[permid]["permid"] == permid
    assert permid not in api.query_tickets()
    execs = api.query_executions()
    mine = {k: v for k, v in execs.items() if str(v["ORIGINAL_ORDER_ID"]) == permid}
    assert mine, "an execution links to the order"
    xid, x = next(iter(mine.items()))
    assert len(x) == 23 and x["ACCOUNT"] == account and x["DISP_NAME"] == "AAPL"
    assert api.query_execution(xid) == x
    assert api.query_execution("no-such-execution") is None
    assert api.query_order_executions(permid) == mine
    assert api.query_order_executions("000") == {}


def test_partial_fills_are_visible(api, account):
    o = api.market_order(account, ROUTE, "MSFT", 1000)
    assert o["status"] != "Filled"
    seen = []
    wait_order(api, o["permid"], {"Filled", "Error"}, seen=seen)
    assert {s["status"] for s in seen} <= {"Submitted", "Pending", "Filled"}
    partial = [s for s in seen if s["status"] == "Pending" and 0 < s["filled"] < 1000 and s["remaining"] > 0]
    assert partial, [(s["status"], s.get("filled")) for s in seen]
    assert "type" in partial[0]
    assert len(api.query_order_executions(o["permid"])) == 4


def test_resting_limit_order_cancelled(api, account):
    o = api.limit_order(account, ROUTE, "IBM", 1.01, 10)
    permid = o["permid"]
    assert o["raw"]["PRICE_TYPE"] == "AsEntered" and o["raw"]["PRICE"] == 1.01
    wait_order(api, permid, {"Pending"})
    ack = api.cancel_order(permid)
    assert ack
    c = wait_order(api, permid, {"Cancelled"})
    assert "filled" in c and c["filled"] == 0
    assert api.cancel_order(permid) == {"status": "Error", "errorMsg": "Already canceled.", "id": permid}


def test_stop_and_stop_limit_orders_trigger(api, account, backend):
    q = api.query_symbol("TSLA")
    if backend == "fake_rtgw":
        # the fake RTGW rests stop and stop-limit orders until they are cancelled
        last = q["last"] or q["close"]
        s = api.stop_order(account, ROUTE, "TSLA", str(round(last - 5, 2)), 10)
        sl = api.stoplimit_order(account, ROUTE, "TSLA", round(last - 5, 2), round(last + 20, 2), 10)
        assert s["raw"]["PRICE_TYPE"] == "Stop" and sl["raw"]["PRICE_TYPE"] == "StopLimit"
        assert "STOP_PRICE" in sl["raw"] and "PRICE" in sl["raw"]
        for o in (s, sl):
            wait_order(api, o["permid"], {"Pending"})
            api.cancel_order(o["permid"])
            assert wait_order(api, o["permid"], {"Cancelled", "Error"})["status"] == "Cancelled"
        return
    # before the day's first print (after midnight in New York, before the open) last is 0:
    # the previous close is then where the market stands
    last = q["last"] or q["close"]
    assert last > 10, q
    # a buy stop already through the market triggers at once and fills (stop price as a string,
    # as the CLI sends it)
    s = api.stop_order(account, ROUTE, "TSLA", str(round(last - 5, 2)), 10)
    assert s["raw"]["PRICE_TYPE"] == "Stop"
    f = wait_order(api, s["permid"], {"Filled", "Error"})
    assert f["status"] == "Filled"
    assert "ExchangeReportStatus" in [u["type"] for u in f["updates"]], "the trigger is in the history"
    # a sell stop far below does not trigger
    s2 = api.stop_order(account, ROUTE, "TSLA", round(last / 2, 2), -10)
    wait_order(api, s2["permid"], {"Pending"})
    time.sleep(1.5)
    s2 = api.query_order(s2["permid"])
    assert s2["status"] == "Pending" and s2["filled"] == 0
    # stop-limit: triggered, then fills at a marketable limit...
    sl = api.stoplimit_order(account, ROUTE, "TSLA", round(last - 5, 2), round(last + 20, 2), 10)
    assert sl["raw"]["PRICE_TYPE"] == "StopLimit" and "STOP_PRICE" in sl["raw"] and "PRICE" in sl["raw"]
    assert wait_order(api, sl["permid"], {"Filled", "Error"})["status"] == "Filled"
    # ...or triggers and rests at a limit far below
    sl2 = api.stoplimit_order(account, ROUTE, "TSLA", round(last - 5, 2), round(last / 2, 2), 10)
    deadline = time.time() + 10
    while True:
        o = api.query_order(sl2["permid"])
        if "ExchangeReportStatus" in [u["type"] for u in o["updates"]]:
            break
        assert time.time() < deadline
        time.sleep(0.1)
    assert o["status"] == "Pending" and o["filled"] == 0
    for p in (s2["permid"], sl2["permid"]):
        api.cancel_order(p)
        wait_order(api, p, {"Cancelled"})


def test_staged_ticket(api, account):
    tag = "TEST_%s" % time.time()
    t = api.stage_market_order(tag, account, ROUTE, "GOOG", 10)
    assert type(t) is dict and t["class"] == "ticket" and t["raw"]["ORDER_TAG"] == tag
    tid = t["permid"]
    assert tid in api.query_tickets() and tid not in api.query_orders()
    time.sleep(1)
    assert api.query_order(tid)["status"] == "Submitted", "a ticket waits"
    assert api.cancel_order(tid)
    c = wait_order(api, tid, {"Filled", "Pending", "Error"})
    assert c["status"] == "Error" and c["raw"]["REASON"].lower().startswith("user cancel")
    o = api.market_order(account, ROUTE, "GOOG", 1)
    assert o["permid"] != tid


def test_rejections_and_error_dicts(api, account):
    bad = api.market_order(account, ROUTE, "BADSYMBOL", 100)
    assert bad and bad["status"] == "Error", "rejected in the immediate reply"
    zero = api.market_order(account, ROUTE, "AAPL", 0)
    if zero["status"] != "Error":
        zero = wait_order(api, zero["permid"], {"Error"})
    assert zero["status"] == "Error"
    assert api.market_order("NOT.AN.ACCOUNT.X", ROUTE, "AAPL", 1) == {"status": "Error", "errorMsg": "account unknown"}
    assert api.cancel_order("000") == {"status": "Error", "errorMsg": "Order not found", "id": "000"}
    assert api.global_cancel() == "global cancel requested"
    assert type(api.query_orders()) is dict and type(api.query_executions()) is dict


def test_global_cancel_cancels_open_orders(api, account):
    ids = [api.limit_order(account, ROUTE, "INTC", 1.01, 10)["permid"] for _ in range(3)]
    for i in ids:
        wait_order(api, i, {"Pending"})
    assert api.global_cancel()
    for i in ids:
        assert wait_order(api, i, {"Cancelled"})["status"] == "Cancelled"


# ----- routes and other commands

def test_routes(api, account):
    forms = [
        ("DEMO", {"DEMO": None}),
        ({"DEMO": None}, {"DEMO": None}),
        ({"DEMO": {"key1": "value1", "key2": "value2"}}, {"DEMO": {"key1": "value1", "key2": "value2"}}),
        (json.dumps("DEMO"), {"DEMO": None}),
        (json.dumps({"DEMO": {"key1": "value1"}}), {"DEMO": {"key1": "value1"}}),
    ]
    algo = {"TEST-ATM-ALGO": {"STRAT_ID": "BEST", "BOOKING_TYPE": "3", "STRAT_PARAMETERS": {"99970": "2", "99971": "1"}}}
    forms.append((json.dumps(algo), algo))
    for given, expected in forms:
        assert api.set_order_route(given) == expected
        assert api.get_order_route() == expected
    with pytest.raises(requests.HTTPError):
        api.set_order_route([1, 2])
    assert api.get_order_route() == algo, "an unusable route changes nothing"
    o = api.market_order(account, algo, "F", 1)
    assert o["raw"]["EXIT_VEHICLE"] == "TEST-ATM-ALGO" and o["raw"]["STRAT_ID"] == "BEST"
    assert o["raw"]["STRAT_PARAMETERS"] == "99970\x1f2\x0199971\x1f1\x01"
    api.set_order_route(ROUTE)


def test_primary_exchange_and_gateway_logon(base_url, auth, api, account):
    def call(cmd, **args):
        r = requests.post(f"{base_url}/{cmd}", json=args, auth=auth)
        r.raise_for_status()
        return r.json()

    assert call("set_primary_exchange", symbol="msft", exchange="NAS") == {"MSFT": "NAS"}
    o = api.market_order(account, ROUTE, "MSFT", 1)
    assert o["raw"]["EXCHANGE"] == "NAS"
    assert call("set_primary_exchange", symbol="MSFT", exchange=None) == {}
    assert call("set_primary_exchange", symbol="GM", exchange="") == {}
    assert call("gateway_logon", username="u", password="p") == "gateway logon unavailable"
    assert call("gateway_logoff") == "gateway logon unavailable"


def test_http_semantics(base_url, auth):
    r = requests.get(f"{base_url}/status", auth=("txtrader_user", "wrong"))
    assert r.status_code == 401 and r.json() == {"status": "Unauthorized"}
    assert requests.get(f"{base_url}/create_staged_order_ticket", auth=auth).status_code == 404
    assert requests.get(f"{base_url}/status/x/y", auth=auth).json() == "Up"
    r = requests.get(f"{base_url}/query_symbols", params={"data": "False"}, auth=auth)
    assert type(r.json()) is dict, "GET values are strings: 'False' is true"
    r = requests.post(f"{base_url}/add_symbol", data="not json", auth=auth)
    assert r.status_code == 400 and "not valid JSON" in r.json()["errorMsg"]
    assert requests.get(f"{base_url}/status", auth=auth).json() == "Up"


def test_json_rpc_through_a_plain_http_client(rpc, account):
    r = rpc({"jsonrpc": "2.0", "method": "query_accounts", "id": 1})
    assert r.status_code == 200 and account in r.json()["result"]
    r = rpc([
        {"jsonrpc": "2.0", "method": "status", "id": "a"},
        {"jsonrpc": "2.0", "method": "market_order", "params": {"account": account, "route": ROUTE, "symbol": "EBAY", "quantity": "5"}, "id": "b"},
        {"jsonrpc": "2.0", "method": "nope", "id": "c"},
        {"jsonrpc": "2.0", "method": "add_symbol", "params": {}, "id": "d"},
        {"jsonrpc": "2.0", "method": "add_symbol", "params": {"symbol": "ORCL"}},
    ]).json()
    by_id = {x["id"]: x for x in r}
    assert len(r) == 4
    assert by_id["a"]["result"] == "Up"
    assert by_id["b"]["result"]["symbol"] == "EBAY"
    assert by_id["c"]["error"]["code"] == -32601
    assert by_id["d"]["error"]["code"] == -32602


# ----- the txtrader CLI

def cli(*args):
    p = subprocess.run(["txtrader", *args], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return p.stdout.strip()


def test_cli(account):
    assert cli("status") == '"Up"'
    assert json.loads(cli("-c", "query_accounts"))[0] == account
    assert cli("add_symbol", "rhat")
    assert cli("del_symbol", "rhat") == "true"
    o = json.loads(cli("market_order", account, ROUTE, "COWN", "10"))
    assert o["permid"] and o["symbol"] == "COWN"
    s = json.loads(cli("stop_order", "--", account, ROUTE, "COWN", "1.0", "-10"))
    assert s["raw"]["PRICE_TYPE"] == "Stop" and s["raw"]["BUYORSELL"] == "Sell"
    bars = json.loads(cli("query_bars", "SPY", "1", "2017-08-29 09:30:00", "2017-08-29 09:40:00"))
    assert len(bars) == 11
    assert "flags" in json.loads(cli("version"))
    assert "market_order" in cli("help")
    assert json.loads(cli("query_order", o["permid"]))["permid"] == o["permid"]
