"""Shared fixtures: the real txtrader-client API against the txtraderd under test.

The Rust harness (tests/tests/conformance.rs) starts txtraderd and passes its address and
credentials in the standard TXTRADER_* variables, exactly as deployments configure clients.
"""
import os
import time

import pytest
import requests
from txtrader_client import API


@pytest.fixture(scope="session")
def api():
    a = API("rtx")
    deadline = time.time() + 30
    while a.status() != "Up":
        assert time.time() < deadline, "gateway never came Up"
        time.sleep(0.1)
    return a


@pytest.fixture(scope="session")
def account(api):
    acct = api.query_accounts()[0]
    assert "DEMO." in acct or "TEST." in acct
    return acct


@pytest.fixture(scope="session")
def backend():
    """What txtraderd trades with: "sim" (its simulator) or "fake_rtgw" (the RealTick adapter
    against the fake RTGW). Where a behaviour is the back-end's, each one's is the expected one."""
    return os.environ.get("TXTRADER_TEST_BACKEND", "sim")


@pytest.fixture(scope="session")
def base_url():
    return f"http://{os.environ['TXTRADER_HOST']}:{os.environ['TXTRADER_HTTP_PORT']}"


@pytest.fixture(scope="session")
def auth():
    return (os.environ["TXTRADER_USERNAME"], os.environ["TXTRADER_PASSWORD"])


def wait_order(api, permid, until, timeout=30, seen=None):
    """Polls query_order until the status is in `until`; records every status seen."""
    deadline = time.time() + timeout
    while True:
        o = api.query_order(permid)
        assert o and o["permid"] == permid
        if seen is not None:
            seen.append(o)
        if o["status"] in until:
            return o
        assert time.time() < deadline, f"order {permid} stuck in {o['status']}"
        time.sleep(0.1)


@pytest.fixture
def rpc(base_url, auth):
    def call(payload):
        r = requests.post(f"{base_url}/rpc", json=payload, auth=auth)
        return r
    return call
