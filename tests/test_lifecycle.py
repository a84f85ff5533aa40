"""pscache as a Lambda external extension, inside the faithful emulator (locallambda/emulator.py)."""

import socket
import threading
import time
from pathlib import Path

import pytest

from locallambda import fault_proxy as faults
from conftest import SECRET_V2
from harness import TOKEN, extensions_dir, free_port, http_get
from locallambda.emulator import LMI, SNAP_START

PARAM = "/systemsmanager/parameters/get?name=%2Fpscache%2Fstring"
SECRET = "/secretsmanager/get?secretId=pscache%2Fsecret"


def proc_state(pid: int, want: str, within_s: float = 2.0) -> str:
    """The process state letter, polled until it is `want`: SIGSTOP takes effect asynchronously."""
    deadline = time.monotonic() + within_s
    while True:
        # /proc/<pid>/stat: "pid (comm) S ..."; comm may hold spaces, so split after the last ')'.
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == want or time.monotonic() > deadline:
            return state
        time.sleep(0.01)


def test_registers_with_its_file_name_for_invoke_and_shutdown(lam):
    emu, _ = lam()
    init = emu.init()
    assert init.ok, init
    agent = emu.agent("pscache")
    assert agent.external and agent.events == ["INVOKE", "SHUTDOWN"]
    assert agent.t_register - agent.t_exec < 5


def test_serves_during_init(lam, proxy):
    seen = {}

    def function_init():
        # Runs as the function's own init code, right after every extension registered.
        seen["param"] = http_get(port, PARAM)
        seen["secret"] = http_get(port, SECRET)

    emu, port = lam(runtime_init=function_init)
    assert emu.init().ok
    assert seen["param"].status == 200 and seen["param"].json()["Parameter"]["Value"] == "value-v2"
    assert seen["secret"].status == 200 and seen["secret"].json()["SecretString"] == SECRET_V2


def test_invokes_do_not_wait_for_pscache_and_hit_the_cache(lam, proxy):
    emu, port = lam()
    assert emu.init().ok

    def function(event, context):
        return [http_get(port, PARAM).status, http_get(port, SECRET).status]

    for _ in range(3):
        result = emu.invoke(function)
        assert result.ok and result.response == [200, 200], result
        # pscache calls next again at once: it never holds the invoke barrier.
        assert result.post_runtime_extensions_ms < 500
    assert proxy.count("GetParameter") == 1 and proxy.count("GetSecretValue") == 1


def test_frozen_between_invokes_and_serving_after_thaw(lam):
    emu, port = lam()
    assert emu.init().ok
    pid = emu.pid("pscache")
    assert proc_state(pid, "T") == "T"  # SIGSTOPped after init
    result = emu.invoke(lambda event, ctx: http_get(port, PARAM).status)
    assert result.ok and result.response == 200
    assert proc_state(pid, "T") == "T"
    with pytest.raises(OSError):
        http_get(port, PARAM, timeout=0.5)  # frozen: nobody answers
    emu.thaw()
    assert http_get(port, PARAM).status == 200


def test_ttl_runs_on_across_a_freeze(lam, proxy):
    emu, port = lam({"SSM_PARAMETER_STORE_TTL": 1}, thaw_delay_s=0.2)
    assert emu.init().ok
    fetch = lambda event, ctx: http_get(port, PARAM).status  # noqa: E731
    assert emu.invoke(fetch).response == 200
    time.sleep(1.2)  # frozen all along
    assert emu.invoke(fetch).response == 200
    assert proxy.count("GetParameter") == 2


def test_shutdown_exits_0_well_inside_the_deadline(lam):
    emu, port = lam()
    assert emu.init().ok
    assert emu.invoke(lambda e, c: http_get(port, PARAM).status, timeout_s=10).ok  # a cold first fetch on a loaded machine
    result = emu.shutdown()
    ext = result.extensions["pscache"]
    assert ext.state == "Exited" and ext.exit_code == 0
    assert ext.exit_ms < 500, ext  # aim < 100 ms; bounded loosely here, measured in bench/
    output = emu.output("pscache")
    assert "SHUTDOWN (spindown)" in output


def test_shutdown_finishes_an_in_flight_request(lam, proxy):
    emu, port = lam({"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"}, freeze=False)
    assert emu.init().ok
    proxy.always("GetParameter", faults.delay(0.5))
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", http_get(port, PARAM)))
    t.start()
    time.sleep(0.2)
    result = emu.shutdown(budget_ms=1700)
    t.join(5)
    assert got["r"].status == 200
    assert result.extensions["pscache"].state == "Exited"


def test_request_sent_while_frozen_is_answered_before_shutdown(lam, proxy):
    """Regression: a connection still in the listen backlog at SHUTDOWN was reset, not served."""
    emu, port = lam({"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"})
    assert emu.init().ok  # frozen from here on: the kernel queues the connection, nobody accepts it
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("r", http_get(port, SECRET, timeout=10)))
    t.start()
    time.sleep(0.3)
    result = emu.shutdown()  # thaw + SHUTDOWN at once
    t.join(10)
    assert got["r"].status == 200 and got["r"].json()["SecretString"] == SECRET_V2
    assert result.extensions["pscache"].state == "Exited"


def test_short_shutdown_budget_still_exits_0_before_the_deadline(lam, proxy):
    # The SDK is still being imported on its thread when SHUTDOWN comes (this flaked on a slow CPU, where that
    # thread held the interpreter long enough for the orderly stop to miss a 500 ms deadline).
    emu, port = lam({"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"}, freeze=False)
    assert emu.init().ok
    proxy.always("GetParameter", faults.delay(5))
    threading.Thread(target=lambda: _swallow(lambda: http_get(port, PARAM, timeout=10)), daemon=True).start()
    time.sleep(0.2)
    result = emu.shutdown(budget_ms=500)
    ext = result.extensions["pscache"]
    assert ext.state == "Exited" and ext.exit_code == 0 and ext.exit_ms < 500, (ext, emu.output("pscache"))


def _swallow(fn):
    try:
        fn()
    except OSError:
        pass


def test_uppercase_reason_and_no_tracing_are_understood(lam):
    emu, port = lam(uppercase_reasons=True, tracing="omit")
    assert emu.init().ok
    assert emu.invoke(lambda e, c: http_get(port, PARAM).status).response == 200
    assert emu.shutdown().extensions["pscache"].state == "Exited"


@pytest.mark.parametrize(
    "variable,value",
    [("PARAMETERS_SECRETS_EXTENSION_HTTP_PORT", "abc"), ("SECRETS_MANAGER_TTL", "-1"), ("PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED", "maybe")],
)
def test_invalid_setting_is_reported_through_init_error(lam, variable, value):
    emu, _ = lam({variable: value})
    init = emu.init()
    assert not init.ok
    assert init.error_type == "Extension.ConfigInvalid" and init.fatal_error == "Extension.InitError"
    error = emu.errors[-1]
    assert variable in error.body["errorMessage"] and repr(value) in error.body["errorMessage"]
    assert emu.agent("pscache").exit_code == 1


@pytest.mark.parametrize("variable", ["AWS_CA_BUNDLE", "REQUESTS_CA_BUNDLE"])
def test_a_ca_bundle_that_does_not_exist_fails_init_naming_the_variable_and_path(lam, tmp_path, variable):
    """The function's SDK variables reach the extension too; with no bundle to verify AWS by, no read could ever
    succeed, so INIT says why instead of every read failing with 'No such file or directory'."""
    missing = tmp_path / "gone" / "corporate-ca.pem"
    emu, _ = lam({variable: missing, "AWS_ENDPOINT_URL": "https://127.0.0.1:9"})  # INIT ends before any call
    init = emu.init()
    assert not init.ok and init.error_type == "Extension.CaBundleInvalid"
    message = emu.errors[-1].body["errorMessage"]
    assert f"{variable}={missing}" in message and "no such file" in message
    assert emu.agent("pscache").exit_code == 1


def test_a_missing_ca_bundle_does_not_fail_init_when_every_endpoint_is_plain_http(lam, tmp_path):
    emu, port = lam({"AWS_CA_BUNDLE": tmp_path / "gone.pem"})  # the local AWS of these tests is http://
    assert emu.init().ok
    r = emu.invoke(lambda e, c: http_get(port, PARAM)).response
    assert r.status == 200, r.body


def test_port_taken_by_another_extension_fails_init_clearly(lam):
    emu, port = lam()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen()
        init = emu.init()
    assert not init.ok and init.error_type == "Extension.ListenFailed"
    assert f"port {port}" in emu.errors[-1].body["errorMessage"]


def test_managed_instances_register_for_shutdown_only(lam):
    emu, port = lam(mode=LMI)
    assert emu.init().ok
    assert emu.agent("pscache").events == ["SHUTDOWN"]
    assert emu.invoke(lambda e, c: http_get(port, PARAM).status).response == 200
    assert emu.shutdown().extensions["pscache"].state == "Exited"


def test_snapstart_container_token_credentials_endpoint_and_nothing_cached_during_init(lam, proxy):
    statuses = []

    def function_init():
        statuses.append(http_get(port, SECRET, token=emu.container_token).status)
        statuses.append(http_get(port, SECRET, token=emu.container_token).status)

    emu, port = lam(mode=SNAP_START, runtime_init=function_init)
    assert emu.init().ok
    assert statuses == [200, 200]
    assert proxy.count("GetSecretValue") == 2  # served during INIT, but not cached into the snapshot
    fetch = lambda e, c: [http_get(port, SECRET, token=t).status for t in (emu.container_token,) * 3 + (TOKEN,)]  # noqa: E731
    assert emu.invoke(fetch).response == [200, 200, 200, 403]  # the static token does not exist under SnapStart
    assert proxy.count("GetSecretValue") == 3  # cached from the first INVOKE on


def test_a_reset_restarts_pscache_on_the_next_invoke(lam):
    emu, port = lam()
    assert emu.init().ok
    slow = emu.invoke(lambda e, c: time.sleep(1.5), timeout_s=0.5)
    assert slow.timed_out and slow.reset is not None
    assert slow.reset.extensions["pscache"].state == "Exited"
    again = emu.invoke(lambda e, c: http_get(port, PARAM).status)
    assert again.ok and again.response == 200 and again.init is not None and again.init.ok


def test_unreachable_extensions_api_exits_non_zero(tmp_path, base_env):
    import subprocess

    env = dict(base_env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{free_port()}", PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(free_port()))
    proc = subprocess.run([str(extensions_dir(tmp_path) / "pscache")], env=env, capture_output=True, timeout=30)
    assert proc.returncode == 1 and b"could not register" in proc.stdout


def test_losing_the_extensions_api_after_register_is_reported_through_exit_error(tmp_path, base_env):
    """register succeeds, then event/next fails with 500: pscache posts exit/error and exits non-zero."""
    import json
    import subprocess
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    posted = []

    class Api(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, status, body=b"{}", headers=()):
            self.send_response(status)
            for k, v in headers:
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            if self.path.endswith("/register"):
                self._answer(200, b'{"functionName":"f"}', [("Lambda-Extension-Identifier", "0b0e3c1e-2f4d-4c59-9d4f-7d1c0c2b9a11")])
            else:
                posted.append((self.path, self.headers.get("Lambda-Extension-Function-Error-Type"), json.loads(body)))
                self._answer(202, b'{"status":"OK"}')

        def do_GET(self):
            self._answer(500, b'{"errorType":"InternalServerError","errorMessage":"boom"}')

    server = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        env = dict(base_env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{server.server_address[1]}",
                   PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(free_port()))
        proc = subprocess.run([str(extensions_dir(tmp_path) / "pscache")], env=env, capture_output=True, timeout=30)
    finally:
        server.shutdown()
    assert proc.returncode == 1
    assert len(posted) == 1
    path, error_type, body = posted[0]
    assert path.endswith("/extension/exit/error") and error_type == "Extension.ApiFailure"
    assert "500" in body["errorMessage"]


# -- shutdown and reset under load (issue 6) ------------------------------------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("budget_ms", [300, 1000, 2000])
def test_shutdown_with_many_upstream_calls_in_flight_exits_inside_the_deadline(lam, proxy, budget_ms):
    """Twelve clients wait on a 10 s upstream: pscache still exits 0 before deadlineMs, and every client is released."""
    emu, port = lam({"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"}, freeze=False)
    assert emu.init().ok
    assert http_get(port, PARAM).status == 200 and http_get(port, SECRET).status == 200  # SDK and clients loaded
    proxy.always("GetParameter", faults.delay(10))
    proxy.always("GetSecretValue", faults.delay(10))
    finished = []

    def client(path):
        try:
            http_get(port, path, timeout=15)
        except OSError:
            pass
        finished.append(time.monotonic())

    threads = [threading.Thread(target=client, args=(p,), daemon=True) for p in [PARAM, SECRET] * 6]
    for t in threads:
        t.start()
    in_flight = lambda: proxy.count("GetParameter") + proxy.count("GetSecretValue") - 2  # noqa: E731
    deadline = time.monotonic() + 5
    while in_flight() < 6 and time.monotonic() < deadline:  # 3 pooled connections per store
        time.sleep(0.02)
    assert in_flight() >= 6  # upstream calls really are in flight (held by the proxy for 10 s)
    result = emu.shutdown(budget_ms=budget_ms)
    exited = time.monotonic()
    ext = result.extensions["pscache"]
    assert ext.state == "Exited" and ext.exit_code == 0 and ext.exit_ms < budget_ms, (ext, emu.output("pscache"))
    for t in threads:
        t.join(5)
    assert len(finished) == 12 and max(finished) - exited < 2  # nobody is left hanging on a dead process


@pytest.mark.slow
def test_reset_during_in_flight_calls_relaunches_a_working_pscache_each_time(lam, proxy):
    """An invoke times out while its function waits on pscache (slow upstream): Lambda resets, pscache exits in the
    reset budget, and the next invoke's fresh pscache serves with an empty cache. Twice in a row."""
    emu, port = lam()
    assert emu.init().ok
    assert emu.invoke(lambda e, c: http_get(port, PARAM).status).response == 200
    for round_, uncached in enumerate([SECRET, SECRET + "&versionStage=AWSPREVIOUS"]):
        proxy.always("GetSecretValue", faults.delay(5))
        slow = emu.invoke(lambda e, c: _swallow(lambda: http_get(port, uncached, timeout=10)), timeout_s=0.5)
        assert slow.timed_out and slow.reset is not None
        ext = slow.reset.extensions["pscache"]
        assert ext.state == "Exited" and ext.exit_code == 0 and ext.exit_ms < emu.reset_budget_ms, ext
        proxy.reset_state()
        # 10 s: the fresh process loads the SDK on this invoke's first fetch, slow on a loaded machine.
        again = emu.invoke(lambda e, c: [http_get(port, PARAM).status, http_get(port, SECRET).status], timeout_s=10)
        assert again.ok and again.init is not None and again.init.ok, (round_, again)
        assert again.response == [200, 200]
        assert proxy.count("GetParameter") == 1  # a new process: the cache started empty
    assert emu.shutdown().extensions["pscache"].state == "Exited"
