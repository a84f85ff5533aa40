"""What pscache logs while clients read normally: nothing at the default level, and never anything a Lambda user
cannot act on (a package name, pip advice, pscache's insides) at any level.

Java's HttpClient with its defaults, and `curl --http2`, offer an h2c upgrade on every plain-HTTP request; a
websocket client offers another. pscache answers all of them over HTTP/1.1, as RFC 9110 lets a server do.
"""

import subprocess

import pytest

from harness import ROOT, TOKEN, raw_request
from locallambda.runtimes import require

PARAM = "/systemsmanager/parameters/get?name=%2Fpscache%2Fstring"
SECRET = "/secretsmanager/get?secretId=pscache%2Fsecret"
MISSING = "/systemsmanager/parameters/get?name=%2Fpscache%2Fclean-log%2Fmissing"  # the caller's business: DEBUG
# Words that would tell a Lambda user about pscache's insides instead of something they can act on.
INSIDES = ("pip", "uvicorn", "websocket library", "wsproto", "install", "traceback", "starlette", "h11")


def log_lines(ext) -> list[str]:
    ext.stop()
    return ext.output().splitlines()


def start_and_stop_only(lines: list[str]) -> list[str]:
    """The lines that are neither pscache's start-up line nor its stop line: what the requests caused."""
    return [line for line in lines if " serving on " not in line and " received, stopping" not in line]


def assert_nothing_internal(lines: list[str]) -> None:
    for line in lines:
        assert not any(word in line.lower() for word in INSIDES), line


def curl_http2(ext, path: str) -> tuple[str, str]:
    """`curl --http2` on plain HTTP (an `Upgrade: h2c` offer): (status, the HTTP version of the answer)."""
    done = subprocess.run(["curl", "--http2", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{http_version}",
                           "-H", f"X-Aws-Parameters-Secrets-Token: {TOKEN}", f"http://localhost:{ext.port}{path}"],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    status, version = done.stdout.split()
    return status, version


def websocket_offer(ext, path: str):
    return raw_request(ext.port, (f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\n"
                                  "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n"
                                  f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Aws-Parameters-Secrets-Token: "
                                  f"{TOKEN}\r\nConnection: close\r\n\r\n").encode())


def test_upgrade_offers_are_answered_over_http_1_1_and_leave_the_log_clean(start_ext):
    ext = start_ext()
    assert [curl_http2(ext, p) for p in (PARAM, SECRET, MISSING)] == [("200", "1.1"), ("200", "1.1"), ("404", "1.1")]
    answer = websocket_offer(ext, PARAM)
    assert answer is not None and answer.status == 200 and answer.json()["Parameter"]["Value"] == "value-v2"
    lines = log_lines(ext)
    assert start_and_stop_only(lines) == [], lines  # no WARN per request, no ERROR for the missing name
    assert_nothing_internal(lines)


def test_at_debug_an_upgrade_offer_is_one_plain_line(start_ext):
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug")
    assert curl_http2(ext, PARAM) == ("200", "1.1")
    assert curl_http2(ext, MISSING) == ("404", "1.1")
    lines = log_lines(ext)
    assert not [line for line in lines if " WARN " in line or " ERROR " in line], lines
    offers = [line for line in lines if "Upgrade" in line]
    assert len(offers) == 2 and all(" DEBUG answered over HTTP/1.1 a request offering Upgrade: h2c" in line
                                    for line in offers), offers
    assert any(" DEBUG GetParameter request for name='/pscache/clean-log/missing' failed: ParameterNotFound (404)"
               in line for line in lines), lines
    assert_nothing_internal(lines)


@pytest.mark.slow  # a JVM, and the source launcher compiles the client first
def test_java_httpclient_with_its_defaults_reads_with_a_clean_log(start_ext):
    require("java")
    ext = start_ext()
    done = subprocess.run(["java", str(ROOT / "tests/clients/java/DefaultHttpClient.java"), str(ext.port), TOKEN,
                           PARAM, SECRET, MISSING, PARAM], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:4] == ["200 HTTP_1_1", "200 HTTP_1_1", "404 HTTP_1_1", "200 HTTP_1_1"]
    lines = log_lines(ext)
    assert start_and_stop_only(lines) == [], lines
    assert_nothing_internal(lines)
