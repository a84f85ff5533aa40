"""Hostile input over raw sockets to a real pscache process: never a 5xx of pscache's own, never a crash or a hang.

Property-based (hypothesis): methods, paths, query strings, header names and values, encodings and sizes
(huge URLs and headers, invalid UTF-8, NUL bytes, repeated parameters). Each case must end, within its
timeout, in either a well-formed HTTP response or a clean close. Example counts are bounded (PSCACHE_HOSTILE_EXAMPLES,
default 300 per test) so the tier stays within its CI budget; `--hypothesis-show-statistics` prints what ran.
"""

from __future__ import annotations

import os
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness import TOKEN, raw_request

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("PSCACHE_HOSTILE_EXAMPLES", "300"))
ANSWER_WITHIN_S = 5.0  # the request timeout is 1 s and moto answers in milliseconds: this is a hang detector
bounded = settings(
    max_examples=EXAMPLES, deadline=None, derandomize=False, database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)

ENDPOINTS = [b"/systemsmanager/parameters/get", b"/systemsmanager/parameters/get/", b"/secretsmanager/get",
             b"/secretsmanager/get/", b"/", b"/ping", b"/pscache/stats", b"/systemsmanager/parameters/batch"]
KEYS = [b"name", b"secretId", b"version", b"label", b"withDecryption", b"versionId", b"versionStage",
        b"X-Aws-Parameters-Secrets-Token", b"refreshNow", b"names", b"path", b"recursive"]
VALUES = [b"/pscache/string", b"pscache/secret", b"plain-name", b"true", b"1", b"stable", b"AWSPREVIOUS", b"",
          b"/aws/reference/secretsmanager/pscache/secret", TOKEN.encode()]

any_bytes = st.binary(max_size=64)
# Percent-escapes of every byte: %00, %FF and broken UTF-8 sequences included.
escape = st.integers(0, 255).map(lambda b: b"%%%02X" % b)
broken_escape = st.sampled_from([b"%", b"%G", b"%4", b"%%", b"%u0041"])
piece = st.one_of(st.sampled_from(VALUES), any_bytes, escape, broken_escape, st.text(max_size=20).map(str.encode))
value = st.lists(piece, max_size=6).map(b"".join)
pair = st.tuples(st.one_of(st.sampled_from(KEYS), any_bytes), value)
query = st.lists(pair, max_size=12).map(lambda pairs: b"&".join(k + b"=" + v for k, v in pairs))
# Repeated parameters: the same key many times, first-wins semantics must not break.
repeated = st.tuples(st.sampled_from(KEYS), st.lists(value, min_size=2, max_size=50)).map(
    lambda kv: b"&".join(kv[0] + b"=" + v for v in kv[1]))
huge = st.integers(1_000, 40_000).map(lambda n: b"name=" + b"a" * n)
path = st.one_of(st.sampled_from(ENDPOINTS), st.lists(st.one_of(any_bytes, escape), max_size=5).map(lambda p: b"/" + b"/".join(p)))
target = st.builds(lambda p, q: p + (b"?" + q if q is not None else b""), path, st.one_of(st.none(), query, repeated, huge))
method = st.one_of(st.sampled_from([b"GET"] * 6 + [b"POST", b"HEAD", b"PUT", b"DELETE", b"OPTIONS", b"TRACE", b"CONNECT", b"get"]),
                   st.binary(min_size=1, max_size=12))
header_name = st.one_of(
    st.sampled_from([b"X-Forwarded-For", b"Content-Length", b"Transfer-Encoding", b"Connection", b"Host", b"Expect",
                     b"X-Aws-Parameters-Secrets-Token", b"x-aws-parameters-secrets-token"]),
    st.text("abcdefghijklmnopqrstuvwxyz-_!#$%&'*+.^`|~0123456789", min_size=1, max_size=30).map(str.encode),
    st.binary(min_size=1, max_size=30),
)
header_value = st.one_of(value, st.sampled_from([TOKEN.encode(), b"chunked", b"close", b"100-continue", b"-1", b"99999999999"]),
                         st.integers(1, 30_000).map(lambda n: b"v" * n))
headers = st.lists(st.tuples(header_name, header_value), max_size=8)
version = st.sampled_from([b"HTTP/1.1"] * 8 + [b"HTTP/1.0", b"HTTP/2.0", b"HTTP/0.9", b"FOO", b""])


def build(m: bytes, t: bytes, v: bytes, hs: list, with_token: bool) -> bytes:
    lines = [m + b" " + t + (b" " + v if v else b""), b"Host: localhost"]
    if with_token:
        lines.append(b"X-Aws-Parameters-Secrets-Token: " + TOKEN.encode())
    lines += [n + b": " + val for n, val in hs]
    return b"\r\n".join(lines) + b"\r\n\r\n"


def check(ext, data: bytes) -> None:
    started = time.monotonic()
    r = raw_request(ext.port, data, timeout=ANSWER_WITHIN_S)  # raises on a malformed answer or a hang
    assert time.monotonic() - started < ANSWER_WITHIN_S
    if r is None:
        return  # a clean close is an acceptable answer to garbage
    # 502/504 say the upstream failed on what it was sent; 500 is pscache's own failure and never allowed.
    assert r.status < 500 or r.status in (502, 504), (r, data[:300])
    if r.status >= 400:
        # Every error answer names its code in a header and, with no Accept naming JSON, says it in text.
        assert r.error_code and r.error_code != "InternalFailure", (r, data[:300])
        if r.body and r.headers.get("content-type", "").startswith("text/plain"):
            assert r.text.startswith(r.error_code + ": "), (r, data[:300])
    # A client that sends the token as a name in its request line may get that name echoed back; nothing else may.
    if TOKEN.encode() not in data.split(b"\r\n", 1)[0]:
        assert TOKEN.encode() not in r.body


@pytest.fixture(scope="module")
def target_ext(tmp_path_factory, base_env):
    """Short idle and request timeouts, so an incomplete request (a body never sent) is answered in ~1 s."""
    from harness import LocalExtension

    env = dict(base_env, PSCACHE_IDLE_TIMEOUT_SECONDS="1", PSCACHE_REQUEST_TIMEOUT_SECONDS="1")
    shared_ext = LocalExtension(tmp_path_factory.mktemp("hostile"), env)
    yield shared_ext
    # After all the abuse: alive, serving, and nothing in its log that says pscache itself broke.
    assert shared_ext.proc.poll() is None
    assert shared_ext.get("/systemsmanager/parameters/get?name=plain-name").status == 200
    out = shared_ext.output()
    for marker in ("Traceback", "Exception in ASGI application", "internal error", "Fatal error"):
        assert marker not in out, out[-3000:]
    shared_ext.stop()


@bounded
@given(m=method, t=target, v=version, hs=headers, with_token=st.booleans())
def test_any_request_line_and_headers(target_ext, m, t, v, hs, with_token):
    check(target_ext, build(m, t, v, hs, with_token))


@bounded
@given(t=st.tuples(st.sampled_from(ENDPOINTS[:4]), st.one_of(query, repeated)).map(lambda pq: pq[0] + b"?" + pq[1]))
def test_queries_that_reach_the_handlers(target_ext, t):
    """A valid request line and the right token, so each query is parsed and, if it names something, fetched."""
    check(target_ext, build(b"GET", t, b"HTTP/1.1", [], True))


@bounded
@given(data=st.one_of(st.binary(max_size=2000), st.lists(st.sampled_from(
    [b"GET ", b"/secretsmanager/get", b"?secretId=x", b" HTTP/1.1", b"\r\n", b"\n", b"\r", b": ", b"\x00", b"\xff",
     b"Content-Length: 5", b"Transfer-Encoding: chunked", b"0\r\n\r\n", b"zz\r\n", b" ", b"\t"]), max_size=40).map(b"".join)))
def test_arbitrary_bytes(target_ext, data):
    # Ended by a blank line, so most cases are a complete (if broken) head rather than a wait for the timeout.
    check(target_ext, data + b"\r\n\r\n")


@bounded
@given(hs=st.lists(st.tuples(header_name, header_value), min_size=1, max_size=300))
def test_many_and_large_headers(target_ext, hs):
    check(target_ext, build(b"GET", b"/secretsmanager/get?secretId=pscache%2Fsecret", b"HTTP/1.1", hs, True))
