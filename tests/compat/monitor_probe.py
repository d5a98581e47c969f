"""Runs the real txtrader-monitor 1.1.8 against txtraderd and records what its channels receive.

Connection settings come from the TXTRADER_* environment, as the monitor reads them. Prints
"READY" once authorized (the test then places orders), and at the end one JSON line
{channel: [messages]}. It stops when it has seen an order filled with its execution and the
answers to orders/executions/positions/accounts, or after 60 seconds (exit code 1).
"""
import json
import sys

from twisted.internet import reactor
from txtrader_monitor import Monitor

OPTIONS = {"order-notification": 1, "order-data": 1, "execution-notification": 1, "execution-data": 1}
seen = {}
state = {"permid": None, "xid": None, "finished": False}


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
    if channel == "EXECUTION" and state["xid"] is None:
        xid, _account, permid, _status = message.split(" ")
        state["xid"], state["permid"] = xid, permid
        for command in ("orders", "executions"):
            monitor.send(command)
    if complete():
        finish(0)
    return True


monitor = Monitor(options=OPTIONS, callbacks={"*": callback}, log_level="ERROR")
reactor.callLater(60, lambda: finish(1))
monitor.run()
