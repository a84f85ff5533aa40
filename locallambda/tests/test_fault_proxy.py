"""Tests of the fault proxy (locallambda/fault_proxy.py) against a plain upstream on port 0."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from locallambda.fault_proxy import FaultProxy
from locallambda.net import kept_alive_requests


class _Upstream(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def proxy():
    upstream = ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    p = FaultProxy(upstream.server_address[1])
    yield p
    p.close()
    upstream.shutdown()


def test_kept_alive_calls_do_not_stall_on_delayed_acks(proxy):
    """Regression: headers and body in two sends with Nagle on made every kept-alive call wait ~40 ms."""
    done = kept_alive_requests(proxy.port, "POST", "/", 21, body=b"{}",
                               headers={"X-Amz-Target": "AmazonSSM.GetParameter"})
    assert all(r.status == 200 and r.body == b'{"ok": true}' for _, r in done)
    samples = [seconds for seconds, _ in done]
    assert proxy.count("GetParameter") == 21
    assert sorted(samples[1:])[10] < 0.02  # a stall is >= 40 ms every time; a call takes about a millisecond


def test_a_rate_limit_throttles_the_operations_it_shares_beyond_its_burst(proxy):
    proxy.limit(("GetParameter", "GetParameters"), rate=0.5, burst=3)  # refills one token every 2 s
    statuses = []
    for target in ["GetParameter", "GetParameters"] * 3:
        done = kept_alive_requests(proxy.port, "POST", "/", 1, body=b"{}", headers={"X-Amz-Target": f"AmazonSSM.{target}"})
        statuses.append((done[0][1].status, done[0][1].body))
    assert [s for s, _ in statuses] == [200, 200, 200, 400, 400, 400]
    assert b"ThrottlingException" in statuses[-1][1] and b"Rate exceeded" in statuses[-1][1]
    assert proxy.throttled == {"GetParameter": 1, "GetParameters": 2}
    assert proxy.count("GetParameter") + proxy.count("GetParameters") == 6  # throttled calls are calls too
    other = kept_alive_requests(proxy.port, "POST", "/", 1, body=b"{}",
                                headers={"X-Amz-Target": "secretsmanager.GetSecretValue"})
    assert other[0][1].status == 200  # an operation outside the limit is not throttled


def test_a_rate_limit_refills_at_its_rate():
    now = [0.0]
    from locallambda.fault_proxy import RateLimit

    bucket = RateLimit(rate=10, burst=2, clock=lambda: now[0])
    assert [bucket.take() for _ in range(3)] == [True, True, False]
    now[0] = 0.1  # one token back
    assert [bucket.take() for _ in range(2)] == [True, False]
    now[0] = 10.0  # never more than the burst
    assert [bucket.take() for _ in range(3)] == [True, True, False]
