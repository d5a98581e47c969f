"""Probes for the access tests (tests/tests/access.rs), each a real client on loopback.

  client ACCOUNT
      The real txtrader-client (TXTRADER_* environment): prints one JSON line with status(),
      and the outcome of a market order (its answer, or the error the client raised).
  tls-stream PORT CAFILE CERT|- KEY|- LINE [LINE ...]
      A stream client over TLS with Python's ssl (verifying the server against CAFILE, with a
      client certificate unless '-'): sends each LINE as a netstring (waiting 0.3 s between
      them), then prints one JSON line {"messages": [...]} of everything received in 2 s, or
      {"error": "..."} when the handshake fails.
  flood SOURCE HTTP_PORT TCP_PORT COUNT SECONDS
      Opens COUNT connections from address SOURCE, alternately to the HTTP port and the
      stream port; half of them stay idle, half send garbage (a bare length prefix, a huge
      one, bytes that are no protocol). Holds them SECONDS, then prints one JSON line: how many
      connected, how many the server closed, how many were still open.
"""
import asyncio
import json
import resource
import socket
import ssl
import sys
import time


def netstring(text):
    data = text.encode()
    return str(len(data)).encode() + b":" + data + b","


def read_netstrings(buf):
    out = []
    while True:
        colon = buf.find(b":")
        if colon < 0:
            return out, buf
        n = int(buf[:colon])
        if len(buf) < colon + 1 + n + 1:
            return out, buf
        out.append(buf[colon + 1:colon + 1 + n].decode(errors="replace"))
        buf = buf[colon + 1 + n + 1:]


def client(account):
    from txtrader_client import API
    api = API("rtx")
    out = {"status": api.status()}
    try:
        out["order"] = api.market_order(account, "DEMO", "IBM", 1)
    except Exception as e:  # the client raises on a refusal: record what it said
        out["error"] = f"{type(e).__name__}: {e}"
    print(json.dumps(out), flush=True)


def tls_stream(port, cafile, cert, key, lines):
    ctx = ssl.create_default_context(cafile=cafile)
    if cert != "-":
        ctx.load_cert_chain(cert, key)
    raw = socket.create_connection(("127.0.0.1", int(port)), timeout=10)
    try:
        s = ctx.wrap_socket(raw, server_hostname="localhost")
        for line in lines:
            s.sendall(netstring(line))
            time.sleep(0.3)
        s.settimeout(0.2)
        buf, messages, deadline = b"", [], time.time() + 2
        while time.time() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                continue
            if not chunk:
                break
            buf += chunk
            got, buf = read_netstrings(buf)
            messages.extend(got)
        print(json.dumps({"messages": messages}), flush=True)
    except (ssl.SSLError, ConnectionError, OSError) as e:
        print(json.dumps({"error": f"{type(e).__name__}: {e}"}), flush=True)


async def flood(source, http_port, tcp_port, count, seconds):
    """Opens `count` connections from `source`, half to each port: a quarter idle, a quarter
    sending garbage, on each. Each then waits for the server to close it, for at most `seconds`
    from its connect. Prints {connected, refused, closed_by_server, open_at_end, slowest_close}:
    open_at_end counts the connections the server still held at the cap (held without a
    deadline), slowest_close the seconds the slowest closed one took."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, count * 2 + 256)), hard))
    garbage = [b"999999:", b"99999999999999999999:", b"\x16\x03\x01\x00\xa5GARBAGE\r\n\r\n", b"GET / HTTP/1.1\r\nHost: x\r\n"]
    stats = {"connected": 0, "refused": 0, "closed_by_server": 0, "open_at_end": 0, "slowest_close": 0.0}

    def closed(started):
        stats["closed_by_server"] += 1
        stats["slowest_close"] = round(max(stats["slowest_close"], time.monotonic() - started), 2)

    async def one(i):
        port = http_port if i % 2 == 0 else tcp_port
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0)), 5)
        except (OSError, asyncio.TimeoutError):
            stats["refused"] += 1
            return
        stats["connected"] += 1
        started = time.monotonic()
        try:
            if i % 4 >= 2:
                writer.write(garbage[i % len(garbage)])
                await writer.drain()
            end = started + seconds
            while time.monotonic() < end:
                try:
                    data = await asyncio.wait_for(reader.read(65536), max(0.01, end - time.monotonic()))
                except asyncio.TimeoutError:
                    break
                if not data:
                    closed(started)
                    return
            stats["open_at_end"] += 1
        except (OSError, ConnectionError):
            closed(started)
        finally:
            writer.close()

    await asyncio.gather(*(one(i) for i in range(count)))
    print(json.dumps(stats), flush=True)


def main():
    cmd = sys.argv[1]
    if cmd == "client":
        client(sys.argv[2])
    elif cmd == "tls-stream":
        port, cafile, cert, key = sys.argv[2:6]
        tls_stream(port, cafile, cert, key, sys.argv[6:])
    elif cmd == "flood":
        source, http_port, tcp_port, count, seconds = sys.argv[2:7]
        asyncio.run(flood(source, int(http_port), int(tcp_port), int(count), float(seconds)))
    else:
        sys.exit(f"unknown probe {cmd}")


if __name__ == "__main__":
    main()
