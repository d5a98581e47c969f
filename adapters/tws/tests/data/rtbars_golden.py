#!/usr/bin/env python3
"""Golden frames of reqRealTimeBars / cancelRealTimeBars from IB's official client (ibapi-stable
10.50.2), which ../shared/peers/ib_golden.py does not capture. Encodes with EClient over a
capturing connection (no socket): .venv-ib/bin/python rtbars_golden.py 178 > ib_golden_rtbars.jsonl
"""
import json, sys
from ibapi.client import EClient
from ibapi.wrapper import EWrapper
from ibapi.contract import Contract
sv = int(sys.argv[1])
class Conn:
    def __init__(self): self.sent = []
    def sendMsg(self, msg): self.sent.append(msg); return len(msg)
    def isConnected(self): return True
c = EClient(EWrapper())
c.conn = Conn()
c.serverVersion_ = sv
c.connState = EClient.CONNECTED
k = Contract(); k.symbol = "AAPL"; k.secType = "STK"; k.exchange = "SMART"; k.primaryExchange = "NASDAQ"; k.currency = "USD"
c.reqRealTimeBars(4001, k, 5, "TRADES", True, [])
c.cancelRealTimeBars(4001)
for label, m in zip(["reqRealTimeBars", "cancelRealTimeBars"], c.conn.sent):
    body = m[4:]
    print(json.dumps({"label": label, "hex": m.hex(), "fields": body.decode().split("\0")[:-1]}))
