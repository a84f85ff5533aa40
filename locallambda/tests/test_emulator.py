"""Tests of the Lambda emulator itself (locallambda/emulator.py), driven by fake extensions.

Each fake is a tiny executable written into a tmp folder that runs locallambda/tests/fakes/fake_ext.py with flags,
so its registered name is the file's basename, as for a real extension.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid

import pytest

from locallambda.emulator import LMI, SNAP_START, LambdaEmulator, clock
from locallambda.net import kept_alive_requests
from locallambda.tests.fakes import FAKES, PY, fake_ext, make_ext, pid_alive, proc_state

EXT = "/2020-01-01/extension"


# ---- helpers ---------------------------------------------------------------------------------------------------


def api(emu: LambdaEmulator, method: str, path: str, body: bytes | None = None, headers: dict | None = None,
        timeout: float = 10.0):
    """One HTTP call to the emulator: (status, lower-cased headers, JSON body or raw bytes)."""
    conn = http.client.HTTPConnection("127.0.0.1", emu.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        r = conn.getresponse()
        raw = r.read()
        hdrs = {k.lower(): v for k, v in r.getheaders()}
    finally:
        conn.close()
    try:
        return r.status, hdrs, json.loads(raw)
    except ValueError:
        return r.status, hdrs, raw


def register(emu: LambdaEmulator, name: str, body: bytes = b"{}", **headers: str):
    return api(emu, "POST", EXT + "/register", body, {"Lambda-Extension-Name": name, **headers})


def records(emu: LambdaEmulator, name: str, tag: str) -> list:
    return fake_ext.records(emu.output(name), tag)


def wait_for(predicate, timeout: float = 5.0, interval: float = 0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def assert_error(resp, status: int, error_type: str) -> dict:
    st, hdrs, body = resp
    assert (st, body.get("errorType") if isinstance(body, dict) else body) == (status, error_type), resp
    assert hdrs["content-type"] == "application/json" and "errorMessage" in body
    return body


class InternalAgent:
    """A test thread acting as an internal extension: it registers, then loops on next in the background."""

    def __init__(self, emu: LambdaEmulator, name: str, events: list[str]):
        self.emu, self.events_got = emu, []
        st, hdrs, body = register(emu, name, json.dumps({"events": events}).encode())
        assert st == 200, body
        self.id = hdrs["lambda-extension-identifier"]

    def start(self) -> InternalAgent:
        def loop() -> None:
            while True:
                try:
                    st, _, ev = api(self.emu, "GET", EXT + "/event/next",
                                    headers={"Lambda-Extension-Identifier": self.id}, timeout=30)
                except OSError:
                    return
                if st != 200:
                    return
                self.events_got.append(ev)

        threading.Thread(target=loop, daemon=True).start()
        return self


# ---- tests -----------------------------------------------------------------------------------------------------


def test_well_behaved_extension_full_lifecycle(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "good", "--accept-account-id")
    make_ext(d, "shutdown-only", "--events", "SHUTDOWN")
    (d / "a-directory").mkdir()  # not executed: only non-directory entries are
    emu = emulator(d)
    assert emu.runtime_api == f"127.0.0.1:{emu.port}"

    init = emu.init()
    assert init.ok, init
    reg = records(emu, "good", "REGISTER")[0]
    assert reg["status"] == 200 and uuid.UUID(reg["id"])
    assert reg["body"] == {"functionName": "pscache-test", "functionVersion": "$LATEST",
                           "handler": "index.handler", "accountId": "123456789012"}
    assert "accountId" not in records(emu, "shutdown-only", "REGISTER")[0]["body"]
    good = emu.agent("good")
    assert good.t_exec < good.t_register < good.t_first_next and good.state == "Ready"
    assert [a.name for a in emu.agents()] == ["good", "shutdown-only"]

    res = emu.invoke(handler=lambda event, ctx: {"got": event, "rid": ctx.aws_request_id}, payload={"k": 1})
    assert res.ok, res
    assert res.response == {"got": {"k": 1}, "rid": res.request_id}
    ev = records(emu, "good", "EVENT")[0]
    invoke = ev["event"]
    assert invoke["eventType"] == "INVOKE" and invoke["requestId"] == res.request_id
    assert isinstance(invoke["deadlineMs"], int) and abs(invoke["deadlineMs"] - (ev["t"] * 1000 + 3000)) < 1500
    assert invoke["invokedFunctionArn"] == "arn:aws:lambda:us-east-1:123456789012:function:pscache-test"
    assert invoke["tracing"]["type"] == "X-Amzn-Trace-Id" and invoke["tracing"]["value"].startswith("Root=1-")
    assert records(emu, "shutdown-only", "EVENT") == []  # only INVOKE subscribers get INVOKE

    sd = emu.shutdown()
    assert sd.states == {"good": "Exited", "shutdown-only": "Exited"}
    assert sd.extensions["good"].exit_code == 0 and 0 <= sd.extensions["good"].exit_ms < 1700
    shutdown = records(emu, "good", "EVENT")[-1]["event"]
    assert shutdown == {"eventType": "SHUTDOWN", "shutdownReason": "spindown", "deadlineMs": sd.deadline_ms}
    steps = [what for _, who, what in emu.events if who == "good"]
    assert steps == ["exec", "register", "next", "event:INVOKE", "next", "event:SHUTDOWN", "exit:0"]
    assert not emu.initialised


def test_register_validation_and_registration_closing(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "good", "--register-twice")
    probes: dict = {}
    inner: list[InternalAgent] = []

    def function_init():
        # Function init code talking to the Extensions API, as an internal extension would.
        probes["bad_json"] = register(emu, "probe", b"{not json")
        probes["empty_body"] = register(emu, "probe", b"")
        probes["not_an_object"] = register(emu, "probe", b"[]")
        probes["config_keys"] = register(emu, "probe", b'{"configurationKeys":["A"]}')
        probes["unknown_event"] = register(emu, "probe", b'{"events":["INVOKE","RESTORE"]}')
        probes["empty_name"] = register(emu, "", b"{}")
        probes["internal_shutdown"] = register(emu, "probe", b'{"events":["SHUTDOWN"]}')
        probes["external_again"] = register(emu, "good", b'{"events":["INVOKE"]}')
        inner.append(InternalAgent(emu, "inner", ["INVOKE"]).start())
        probes["internal_again"] = register(emu, "inner", b"{}")

    emu = emulator(d, runtime_init=function_init)
    assert emu.init().ok
    for key in ("bad_json", "empty_body", "not_an_object", "config_keys"):
        assert_error(probes[key], 403, "InvalidRequestFormat")
    assert_error(probes["unknown_event"], 403, "Extension.InvalidEventType")
    assert_error(probes["empty_name"], 403, "Extension.InvalidExtensionName")
    body = assert_error(probes["internal_shutdown"], 403, "Extension.InvalidEventType")
    assert "ShutdownEventNotSupportedForInternalExtension" in body["errorMessage"]
    assert_error(probes["external_again"], 403, "Extension.InvalidExtensionState")
    assert_error(probes["internal_again"], 403, "Extension.InvalidExtensionState")
    again = records(emu, "good", "REGISTER-AGAIN")[0]
    assert (again["status"], again["body"]["errorType"]) == (403, "Extension.InvalidExtensionState")

    # Registration is closed once the runtime is initialised.
    assert_error(register(emu, "late", b"{}"), 403, "Extension.RegistrationClosed")
    # The internal INVOKE subscriber is part of the barrier and gets the event.
    res = emu.invoke()
    assert res.ok and res.response is None
    wait_for(lambda: inner[0].events_got)
    assert inner[0].events_got[0]["requestId"] == res.request_id

    # The extension limit counts external and internal extensions.
    tight = {}
    small = emulator(d, max_extensions=1,
                     runtime_init=lambda: tight.setdefault("r", register(small, "inner", b"{}")))
    assert small.init().ok
    assert_error(tight["r"], 403, "Extension.TooManyExtensions")


def test_name_mismatch_makes_an_internal_extension(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "real", "--register-name", "other")
    emu = emulator(d)
    res = emu.init()
    reg = records(emu, "real", "REGISTER")[0]
    assert (reg["status"], reg["body"]["errorType"]) == (403, "Extension.InvalidEventType")
    assert "ShutdownEventNotSupportedForInternalExtension" in reg["body"]["errorMessage"]
    assert not res.ok and res.error_type == "Extension.Crash"  # it exited after the refusal

    # Without SHUTDOWN the mismatched name registers as internal, and the launched file never registers.
    d2 = tmp_path / "ext2"
    make_ext(d2, "real", "--register-name", "other", "--events", "INVOKE")
    emu2 = emulator(d2, init_timeout_s=0.8)
    res2 = emu2.init()
    assert records(emu2, "real", "REGISTER")[0]["status"] == 200
    assert not res2.ok and res2.timed_out and res2.error_type == "Sandbox.Timedout"
    assert emu2.agent("real").state == "Started"


def test_identifier_and_header_checks(emulator, tmp_path):
    emu0 = emulator(tmp_path / "empty")
    for method, path in (("GET", "/event/next"), ("POST", "/init/error"), ("POST", "/exit/error")):
        h = {"Lambda-Extension-Function-Error-Type": "Extension.X"}
        assert_error(api(emu0, method, EXT + path, b"{}", h), 403, "Extension.MissingExtensionIdentifier")
        h["Lambda-Extension-Identifier"] = "not-a-uuid"
        assert_error(api(emu0, method, EXT + path, b"{}", h), 403, "Extension.InvalidExtensionIdentifier")
        h["Lambda-Extension-Identifier"] = str(uuid.uuid4())
        assert_error(api(emu0, method, EXT + path, b"{}", h), 403, "Extension.UnknownExtensionIdentifier")
    st, _, _ = api(emu0, "GET", "/2020-01-01/nothing-here")
    assert st == 404
    st, _, body = api(emu0, "POST", f"/2018-06-01/runtime/invocation/{uuid.uuid4()}/response", b"{}")
    assert (st, body["errorType"]) == (400, "InvalidRequestID")
    assert api(emu0, "GET", "/2021-04-23/credentials", headers={"Authorization": emu0.container_token})[0] == 404

    out: dict = {}

    def function_init():
        agent = InternalAgent(emu, "probe", [])
        me = {"Lambda-Extension-Identifier": agent.id}
        out["no_type"] = api(emu, "POST", EXT + "/init/error", b"{}", me)
        out["exit_no_type"] = api(emu, "POST", EXT + "/exit/error", b"{}", me)
        agent.start()  # subscribed to nothing: its next blocks forever, as it must
        wait_for(lambda: emu.agent("probe").state == "Ready")
        h = dict(me, **{"Lambda-Extension-Function-Error-Type": "Extension.Late"})
        out["init_error_after_next"] = api(emu, "POST", EXT + "/init/error", b"{}", h)
        out["next_while_in_next"] = api(emu, "GET", EXT + "/event/next", headers=me)

    emu = emulator(tmp_path / "empty", runtime_init=function_init)
    assert emu.init().ok
    assert_error(out["no_type"], 403, "Extension.MissingHeader")
    assert_error(out["exit_no_type"], 403, "Extension.MissingHeader")
    assert_error(out["init_error_after_next"], 403, "Extension.InvalidExtensionState")
    assert_error(out["next_while_in_next"], 403, "Extension.InvalidExtensionState")
    assert emu.errors == []


def test_keep_alive_replies_do_not_stall_on_delayed_acks(emulator, tmp_path):
    """Regression: the API sent headers and body in two writes with Nagle on, so on a kept-alive connection each
    reply waited ~40 ms for the client's delayed ACK: 40 ms added to every event a runtime or extension got."""
    emu = emulator(tmp_path / "empty")
    done = kept_alive_requests(emu.port, "GET", EXT + "/event/next", 21)  # no identifier: a 403 with a JSON body
    assert all(r.status == 403 and r.body for _, r in done)
    samples = [seconds for seconds, _ in done]
    assert sorted(samples[1:])[10] < 0.02  # a stall is >= 40 ms every time; a reply takes about a millisecond


def test_init_error_is_fatal_rejects_later_calls_and_init_reruns(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "bad", "--init-error", "Extension.ConfigInvalid")
    make_ext(d, "good")
    emu = emulator(d)
    res = emu.init()
    assert not res.ok and res.error_type == "Extension.ConfigInvalid" and res.fatal_error == "Extension.InitError"
    posted = records(emu, "bad", "INIT-ERROR")[0]
    assert posted == {"status": 202, "body": {"status": "OK"}}
    after = records(emu, "bad", "AFTER-INIT-ERROR")[0]
    assert (after["status"], after["body"]["errorType"]) == (403, "Extension.InvalidExtensionState")
    err = emu.errors[0]
    assert (err.who, err.error_type, err.posted_type) == ("bad", "Extension.InitError", "Extension.ConfigInvalid")
    assert err.body["errorMessage"] == "bad config"
    assert emu.agent("bad").state == "InitError"
    assert not pid_alive(emu.pid("good")) and not emu.initialised
    assert not [e for e in emu.errors if e.error_type == "Extension.Crash"]  # exiting after init/error is expected

    again = emu.invoke()  # like Lambda, the next invoke runs init again
    assert not again.ok and again.init is not None and again.init.generation == 2
    assert again.error_type == "Extension.ConfigInvalid"
    assert len(emu.events_of("good", "exec")) == 2  # (it may be killed before it registers)
    assert len(records(emu, "bad", "INIT-ERROR")) == 2


def test_exit_error_during_invoke_is_fatal(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "quitter", "--exit-error-on-invoke", "Extension.Broken")
    make_ext(d, "witness")
    emu = emulator(d)
    res = emu.invoke(handler=lambda e, c: "done")
    assert not res.ok and res.response == "done"
    assert (res.error_type, res.fatal_error) == ("Extension.Broken", "Extension.ExitError")
    assert records(emu, "quitter", "EXIT-ERROR")[0]["status"] == 202
    after = records(emu, "quitter", "AFTER-EXIT-ERROR")[0]
    assert (after["status"], after["body"]["errorType"]) == (403, "Extension.InvalidExtensionState")
    assert res.reset.reason == "failure" and res.reset.extensions["witness"].state == "Exited"
    assert records(emu, "witness", "EVENT")[-1]["event"]["shutdownReason"] == "failure"


def test_exit_0_during_invoke_is_a_crash_and_resets(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "crashy", "--crash-on-invoke", "0")
    make_ext(d, "witness")
    emu = emulator(d)
    assert emu.init().ok
    res = emu.invoke(handler=lambda e, c: "ok")
    assert not res.ok and res.error_type == "Extension.Crash" and res.response == "ok"
    assert [(e.who, e.error_type) for e in emu.errors] == [("crashy", "Extension.Crash")]
    assert emu.agent("crashy").exit_code == 0
    assert res.reset.reason == "failure" and res.reset.states["witness"] == "Exited"
    assert records(emu, "witness", "EVENT")[-1]["event"]["shutdownReason"] == "failure"
    assert not emu.initialised

    res2 = emu.invoke(handler=lambda e, c: "ok")  # re-initialises: the extensions start again
    assert res2.init is not None and res2.init.ok and res2.init.generation == 2
    assert len(records(emu, "witness", "REGISTER")) == 2

    d2 = tmp_path / "ext2"
    make_ext(d2, "early", "--exit-before-register", "0")
    early = emulator(d2).init()
    assert not early.ok and early.error_type == "Extension.Crash"


def test_invoke_barrier_waits_for_extensions(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "slow", "--post-invoke-sleep-ms", "300")
    emu = emulator(d)
    assert emu.init().ok
    t0 = clock()
    res = emu.invoke(handler=lambda e, c: "fast")
    elapsed = clock() - t0
    assert res.ok and res.response == "fast"
    assert res.duration_ms < 250
    assert res.post_runtime_extensions_ms >= 280
    assert elapsed >= 0.28
    t_response = emu.events_of("runtime", "response")[-1][0]
    t_slow_next = emu.events_of("slow", "next")[-1][0]
    t_done = emu.events_of("lambda", "invoke-done")[-1][0]
    assert t_response < t_slow_next <= t_done


def test_freeze_and_thaw(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "ticker", "--ticker")
    emu = emulator(d)
    assert emu.init().ok and emu.frozen
    pid = emu.pid("ticker")
    wait_for(lambda: proc_state(pid) == "T")
    ticks = len(records(emu, "ticker", "TICK"))
    time.sleep(0.3)
    assert len(records(emu, "ticker", "TICK")) == ticks  # nothing runs while frozen

    emu.thaw()
    wait_for(lambda: proc_state(pid) != "T")
    wait_for(lambda: len(records(emu, "ticker", "TICK")) > ticks + 2)
    res = emu.invoke()
    assert res.ok
    wait_for(lambda: proc_state(pid) == "T")
    whats = [w for _, who, w in emu.events if who == "lambda"]
    assert whats.count("frozen") == 2 and whats.count("thawed") == 1

    # A late SIGCONT: the extension wakes up thaw_delay_s after the invoke was requested.
    late = emulator(tmp_path / "ext", thaw_delay_s=0.3)
    assert late.init().ok
    res = late.invoke()
    assert res.ok and res.total_ms >= 290
    requested = late.events_of("lambda", "invoke-requested")[-1][0]
    assert late.events_of("lambda", "thawed")[-1][0] - requested >= 0.29

    unfrozen = emulator(tmp_path / "ext", freeze=False)
    assert unfrozen.init().ok and not unfrozen.frozen
    time.sleep(0.1)
    assert proc_state(unfrozen.pid("ticker")) != "T"


def test_shutdown_deadline_sigkill_and_reasons(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "stubborn", "--ignore-shutdown")
    make_ext(d, "invoke-only", "--events", "INVOKE")
    make_ext(d, "good")
    emu = emulator(d, uppercase_reasons=True)
    assert emu.init().ok
    sd = emu.shutdown(budget_ms=500)
    assert sd.reason == "SPINDOWN"
    stubborn, invoke_only, good = (sd.extensions[n] for n in ("stubborn", "invoke-only", "good"))
    assert (stubborn.state, stubborn.exit_code) == ("ShutdownFailed", -9) and stubborn.exit_ms >= 450
    assert (invoke_only.state, invoke_only.exit_code) == ("ShutdownFailed", -9) and invoke_only.exit_ms < 300
    assert not invoke_only.subscribed
    assert (good.state, good.exit_code) == ("Exited", 0)
    event = records(emu, "stubborn", "EVENT")[-1]["event"]
    assert event["shutdownReason"] == "SPINDOWN" and isinstance(event["deadlineMs"], int)
    assert sd.duration_ms < 1500
    assert emu.shutdown().extensions == {}  # nothing left to shut down


def test_non_executable_file_is_a_launch_error(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "a-good")
    make_ext(d, "b-not-executable", mode=0o644)
    emu = emulator(d)
    res = emu.init()
    assert not res.ok and res.error_type == "Extension.LaunchError"
    agent = emu.agent("b-not-executable")
    assert (agent.state, agent.error_type) == ("LaunchError", "PermissionDenied")
    assert not pid_alive(emu.pid("a-good"))


def test_lambda_managed_instances_mode(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "wants-invoke")
    emu = emulator(d, mode=LMI)
    res = emu.init()
    reg = records(emu, "wants-invoke", "REGISTER")[0]
    assert (reg["status"], reg["body"]["errorType"]) == (403, "Extension.InvalidEventType")
    assert not res.ok

    d2 = tmp_path / "ext2"
    make_ext(d2, "lmi", "--events", "SHUTDOWN", "--dump-env")
    emu2 = emulator(d2, mode=LMI)
    assert emu2.init().ok and not emu2.frozen
    assert records(emu2, "lmi", "ENV")[0]["AWS_LAMBDA_INITIALIZATION_TYPE"] == "lambda-managed-instances"

    results = []

    def call():
        results.append(emu2.invoke(handler=lambda e, c: time.sleep(0.4) or "ok"))

    threads = [threading.Thread(target=call) for _ in range(2)]
    t0 = clock()
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert [r.ok for r in results] == [True, True]
    assert clock() - t0 < 0.75  # concurrent, not serialised
    assert proc_state(emu2.pid("lmi")) != "T"  # never frozen
    assert emu2.shutdown().states == {"lmi": "Exited"}


def test_environment_snapstart_and_on_demand(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "envdump", "--dump-env")
    env = {"AWS_ACCESS_KEY_ID": "AKIDSTATIC", "AWS_SECRET_ACCESS_KEY": "static-secret",
           "AWS_SESSION_TOKEN": "static-token", "CUSTOMER_VAR": "x", "_HANDLER": "runtime-only",
           "AWS_LAMBDA_LOG_GROUP_NAME": "runtime-only"}

    snap = emulator(d, env=env, mode=SNAP_START)
    assert snap.init().ok
    e = records(snap, "envdump", "ENV")[0]
    assert not {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"} & set(e)
    assert e["AWS_CONTAINER_CREDENTIALS_FULL_URI"] == f"http://{snap.runtime_api}/2021-04-23/credentials"
    token = e["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    assert e["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start" and e["CUSTOMER_VAR"] == "x"
    assert "_HANDLER" not in e and "AWS_LAMBDA_LOG_GROUP_NAME" not in e
    st, _, creds = api(snap, "GET", "/2021-04-23/credentials", headers={"Authorization": token})
    assert st == 200 and set(creds) == {"AccessKeyId", "SecretAccessKey", "Token", "Expiration"}
    assert (creds["AccessKeyId"], creds["Token"]) == ("AKIDSTATIC", "static-token")
    assert api(snap, "GET", "/2021-04-23/credentials", headers={"Authorization": "wrong"})[0] == 404
    # The SDK's default chain can use the endpoint (loopback full URI + authorization token).
    botocore_credentials = pytest.importorskip("botocore.credentials")
    frozen = botocore_credentials.ContainerProvider(environ=e).load().get_frozen_credentials()
    assert (frozen.access_key, frozen.token) == ("AKIDSTATIC", "static-token")

    on_demand = emulator(d, env=env)
    assert on_demand.init().ok
    e = records(on_demand, "envdump", "ENV")[0]
    assert (e["AWS_ACCESS_KEY_ID"], e["AWS_SESSION_TOKEN"]) == ("AKIDSTATIC", "static-token")
    assert not [k for k in e if k.startswith("AWS_CONTAINER_")]
    assert e["AWS_LAMBDA_RUNTIME_API"] == on_demand.runtime_api
    assert (e["AWS_LAMBDA_FUNCTION_NAME"], e["AWS_LAMBDA_FUNCTION_VERSION"],
            e["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"]) == ("pscache-test", "$LATEST", "128")
    assert e["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"


def test_snapstart_restore_hands_out_new_credentials_behind_the_same_token(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "envdump", "--dump-env")
    snap = emulator(d, mode=SNAP_START)
    with pytest.raises(RuntimeError):
        snap.restore()  # nothing to restore before init
    assert snap.init().ok
    token = records(snap, "envdump", "ENV")[0]["AWS_CONTAINER_AUTHORIZATION_TOKEN"]
    before = api(snap, "GET", "/2021-04-23/credentials", headers={"Authorization": token})[2]
    restored = snap.restore()
    after = api(snap, "GET", "/2021-04-23/credentials", headers={"Authorization": token})[2]
    assert after == restored and snap.credentials_served == 2
    assert after["AccessKeyId"] != before["AccessKeyId"] and after["Token"] != before["Token"]
    assert after["SecretAccessKey"] != before["SecretAccessKey"] and after["Expiration"] >= before["Expiration"]
    assert snap.events_of("lambda", "restore")
    assert snap.invoke().ok  # the environment resumes


def test_runtime_subprocess_serves_invocations(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "good")
    emu = emulator(d, runtime=[PY, str(FAKES / "fake_runtime.py")], tracing="omit")
    assert emu.init().ok
    # The runtime's first invocation/next closed registration.
    assert_error(register(emu, "late", b"{}"), 403, "Extension.RegistrationClosed")

    res = emu.invoke(payload={"n": 1}, timeout_s=10)  # generous: the machine may be loaded
    assert res.ok, res
    assert res.response["echo"] == {"n": 1} and res.response["requestId"] == res.request_id
    assert res.response["deadlineMs"] == res.event["deadlineMs"] and res.response["handler"] == "index.handler"
    assert "tracing" not in res.event
    failed = emu.invoke(payload={"fail": True}, timeout_s=10)  # a function error is not fatal
    assert failed.ok and failed.function_error == "Unhandled" and failed.response["errorType"] == "ValueError"
    assert [r["event"]["eventType"] for r in records(emu, "good", "EVENT")] == ["INVOKE", "INVOKE"]

    sd = emu.shutdown()
    assert "SIGTERM" in emu.runtime_output() and sd.runtime_exit_code == 0
    assert sd.states == {"good": "Exited"}

    broken = emulator(d, runtime=[PY, str(FAKES / "fake_runtime.py"), "--init-error", "Runtime.ImportModuleError"])
    res = broken.init()
    assert not res.ok and res.error_type == "Runtime.ImportModuleError"


def test_init_timeout_then_retry_on_invoke(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "stuck", "--never-next")
    emu = emulator(d, init_timeout_s=0.8)
    res = emu.init()
    assert not res.ok and res.timed_out and res.error_type == "Sandbox.Timedout"
    assert not pid_alive(emu.pid("stuck"))
    again = emu.invoke()
    assert not again.ok and again.init.generation == 2 and again.init.timed_out
    assert len(records(emu, "stuck", "REGISTER")) == 2


def test_function_timeout_resets(emulator, tmp_path):
    d = tmp_path / "ext"
    make_ext(d, "hog", "--post-invoke-sleep-ms", "5000")
    make_ext(d, "witness")
    emu = emulator(d, reset_budget_ms=400, tracing="empty")
    res = emu.invoke(handler=lambda e, c: "answered", timeout_s=0.5)
    assert not res.ok and res.timed_out and res.error_type == "Sandbox.Timedout" and res.response == "answered"
    assert records(emu, "witness", "EVENT")[0]["event"]["tracing"] == {"type": "X-Amzn-Trace-Id", "value": ""}
    assert res.reset.reason == "timeout"
    assert res.reset.states == {"hog": "ShutdownFailed", "witness": "Exited"}
    assert records(emu, "witness", "EVENT")[-1]["event"]["shutdownReason"] == "timeout"
    assert not emu.initialised

    slow_fn = emulator(tmp_path / "empty")
    res = slow_fn.invoke(handler=lambda e, c: time.sleep(0.3), timeout_s=0.1)
    assert res.timed_out and res.reset.reason == "timeout"
