"""Conformance of txtraderd's stream with the real txtrader-monitor 1.1.8 (spec section 3.1):
it connects, authorizes, receives TIME, ORDER, ORDER_DATA, EXECUTION and EXECUTION_DATA for an
order placed over HTTP with the real txtrader-client, and the answers to orders, executions,
positions and accounts arrive on the channels its users read."""
import json
import os
import re
import subprocess
import sys

from conftest import wait_order

HERE = os.path.dirname(os.path.abspath(__file__))


def test_monitor_channels(api, account):
    probe = subprocess.Popen(
        [sys.executable, "-u", os.path.join(HERE, "monitor_probe.py")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert probe.stdout.readline().strip() == "READY", probe.stderr.read()
        o = api.market_order(account, "DEMOEUR", "INTC", 7)
        probe.stdin.write(o["permid"] + "\n")
        probe.stdin.flush()
        wait_order(api, o["permid"], {"Filled"})
        out, err = probe.communicate(timeout=90)
    finally:
        if probe.poll() is None:
            probe.kill()
    assert probe.returncode == 0, f"monitor did not see everything:\n{out}\n{err}"
    seen = json.loads(out.strip().splitlines()[-1])
    permid = o["permid"]

    status = seen["STATUS"]
    assert status[0] == "reactor startup"
    assert any(m.startswith(".connected: RTX Gateway ") for m in status)
    assert ".Authorized rtx" in status
    assert all(re.match(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:00$", t) for t in seen["TIME"])

    mine = [m.split(" ") for m in seen["ORDER"] if m.startswith(permid + " ")]
    assert all(acct == account for _, acct, _, _ in mine)
    assert [s for _, _, _, s in mine][0] == "Submitted" and [s for _, _, _, s in mine][-1] == "Filled"
    data = [json.loads(m) for m in seen["ORDER_DATA"]]
    assert any(d["permid"] == permid and d["status"] == "Filled" for d in data)

    xid, acct, xpermid, xstatus = next(m.split(" ") for m in seen["EXECUTION"] if m.split(" ")[2] == permid)
    assert (acct, xstatus) == (account, "COMPLETED")
    xdata = [json.loads(m) for m in seen["EXECUTION_DATA"]]
    assert any(d["ORDER_ID"] == xid and d["ORIGINAL_ORDER_ID"] == permid and len(d) == 23 for d in xdata)

    orders = [json.loads(m) for m in seen["ORDERS"]]
    assert all(type(x) is dict for x in orders) and any(permid in x for x in orders)
    execs = [json.loads(m) for m in seen["EXECUTIONS"]]
    assert any(xid in x for x in execs)
    positions = next(m for m in status if m.startswith("rtx.positions: "))
    assert account in json.loads(positions[len("rtx.positions: "):])
    accounts = next(m for m in status if m.startswith(".accounts: "))
    assert account in accounts
