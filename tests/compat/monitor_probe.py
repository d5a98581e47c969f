"""Runs the real txtrader-monitor 1.1.8 against txtraderd and records what its channels receive.

Connection settings come from the TXTRADER_* environment, as the monitor reads them. Prints
"READY" once authorized; the test then places its order and writes that order's permid on a
line of the probe's stdin. At the end it prints one JSON line {channel: [messages]}. It stops
when it has seen that order filled with its execution and the answers to
orders/executions/positions/accounts, or after 60 seconds (exit code 1). Other orders may be
filling at the same time (an earlier test's order on a slow back-end): only the test's order
completes the probe.
"""
import json
import sys

from twisted.internet import reactor
from txtrader_monitor import Monitor

OPTIONS = {"order-notification": 1, "order-data": 1, "execution-notification": 1, "execution-data": 1}
seen = {}
state = {"permid": None, "xid": None, "finished": False}
executions = {}  # permid -> the xid of its first EXECUTION line


def finish(code):
    if state["finished"]:
        return
    state["finished"] = True
    print(json.dumps(seen), flush=True)
    reactor.callLater(0.2, lambda: (reactor.stop(), sys.exit(code)))


def json_of(channel, key):
    for m in seen.get(channel, []):
        try:
            d = json.loads(m)
        except ValueError:
            continue
        if key in d:
            return d
    return None


def complete():
    permid, xid = state["permid"], state["xid"]
    if not (permid and xid and seen.get("TIME")):
        return False
    filled = any(m.startswith(permid + " ") and m.endswith(" Filled") for m in seen.get("ORDER", []))
    statuses = seen.get("STATUS", [])
    return (
        filled
        and json_of("ORDERS", permid) is not None
        and json_of("EXECUTIONS", xid) is not None
        and any(m.startswith("rtx.positions: ") for m in statuses)
        and any(m.startswith(".accounts: ") for m in statuses)
    )


def callback(channel, message):
    seen.setdefault(channel, []).append(message)
    if channel == "STATUS" and message.startswith(".Authorized"):
        print("READY", flush=True)
        for command in ("orders", "executions", "positions", "accounts"):
            monitor.send(command)
    if channel == "EXECUTION":
        xid, _account, permid, _status = message.split(" ")
        executions.setdefault(permid, xid)
        follow()
    if complete():
        finish(0)
    return True


def follow():
    """Once the test's order has an execution, asks for the orders and executions that show it."""
    permid = state["permid"]
    if permid and state["xid"] is None and permid in executions:
        state["xid"] = executions[permid]
        for command in ("orders", "executions"):
            monitor.send(command)


def told(line):
    state["permid"] = line.strip() or None
    follow()
    if complete():
        finish(0)


def read_permid():
    line = sys.stdin.readline()
    reactor.callFromThread(told, line)


monitor = Monitor(options=OPTIONS, callbacks={"*": callback}, log_level="ERROR")
reactor.callLater(60, lambda: finish(1))
reactor.callInThread(read_permid)
monitor.run()
