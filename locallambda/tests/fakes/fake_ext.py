"""A configurable fake external extension for the emulator's own tests.

Tests write a tiny executable into an extensions folder that calls main([...flags]). The registered name is the
executable's basename, like a real extension's. Everything it sees goes to stdout as one line per fact:
`<TAG> <json>` (REGISTER, EVENT, INIT-ERROR, AFTER-INIT-ERROR, EXIT-ERROR, ENV, TICK, ...), so a test can read it
with LambdaEmulator.output(name) and fake_ext.records(text, tag).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request


def call(method: str, path: str, body: bytes | None = None, headers: dict | None = None):
    """One Extensions API call without a client timeout (the docs warn against one). Returns (status, headers, body)."""
    url = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2020-01-01/extension{path}"
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as e:
        status, hdrs, raw = e.code, dict(e.headers), e.read()
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return status, hdrs, parsed


def say(tag: str, obj) -> None:
    print(tag, json.dumps(obj), flush=True)


def records(text: str, tag: str) -> list:
    """The JSON payloads of every `<tag> <json>` line in an output."""
    out = []
    for line in text.splitlines():
        if line.startswith(tag + " "):
            out.append(json.loads(line[len(tag) + 1:]))
    return out


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("--events", default="INVOKE,SHUTDOWN", help="comma-separated; empty for none")
    p.add_argument("--register-name", help="send this name instead of the file's basename")
    p.add_argument("--accept-account-id", action="store_true")
    p.add_argument("--register-twice", action="store_true")
    p.add_argument("--exit-before-register", type=int, help="exit with this code before registering")
    p.add_argument("--init-error", help="post init/error with this type after register, then probe and exit")
    p.add_argument("--never-next", action="store_true", help="register, then never call next")
    p.add_argument("--post-invoke-sleep-ms", type=int, default=0)
    p.add_argument("--crash-on-invoke", type=int, help="exit with this code on INVOKE")
    p.add_argument("--exit-error-on-invoke", help="post exit/error with this type on INVOKE, then probe and exit")
    p.add_argument("--ignore-shutdown", action="store_true", help="on SHUTDOWN ignore SIGTERM and sleep forever")
    p.add_argument("--shutdown-delay-ms", type=int, default=0)
    p.add_argument("--shutdown-exit-code", type=int, default=0)
    p.add_argument("--dump-env", action="store_true")
    p.add_argument("--ticker", action="store_true", help="print TICK every 20 ms from a background thread")
    return p.parse_args(argv)


def main(argv: list[str]) -> None:
    args = parse(argv)
    name = args.register_name or os.path.basename(sys.argv[0])
    if args.dump_env:
        say("ENV", dict(os.environ))
    if args.ticker:
        def tick() -> None:
            while True:
                say("TICK", time.time())
                time.sleep(0.02)
        threading.Thread(target=tick, daemon=True).start()
    if args.exit_before_register is not None:
        sys.exit(args.exit_before_register)

    events = [e for e in args.events.split(",") if e]
    headers = {"Lambda-Extension-Name": name, "Content-Type": "application/json"}
    if args.accept_account_id:
        headers["Lambda-Extension-Accept-Feature"] = "accountId"
    body = json.dumps({"events": events}).encode()
    status, hdrs, resp = call("POST", "/register", body, headers)
    ident = hdrs.get("Lambda-Extension-Identifier")
    say("REGISTER", {"status": status, "id": ident, "body": resp})
    if status != 200:
        sys.exit(3)
    if args.register_twice:
        status2, _, resp2 = call("POST", "/register", body, headers)
        say("REGISTER-AGAIN", {"status": status2, "body": resp2})
    me = {"Lambda-Extension-Identifier": ident}

    if args.init_error:
        error = json.dumps({"errorMessage": "bad config", "errorType": args.init_error, "stackTrace": []}).encode()
        st, _, r = call("POST", "/init/error", error, dict(me, **{"Lambda-Extension-Function-Error-Type": args.init_error}))
        say("INIT-ERROR", {"status": st, "body": r})
        st, _, r = call("GET", "/event/next", headers=me)
        say("AFTER-INIT-ERROR", {"status": st, "body": r})
        sys.exit(1)
    if args.never_next:
        while True:
            time.sleep(1)

    while True:
        status, hdrs, event = call("GET", "/event/next", headers=me)
        say("EVENT", {"status": status, "event": event, "t": time.time()})
        if status != 200:
            sys.exit(4)
        if event["eventType"] == "INVOKE":
            if args.crash_on_invoke is not None:
                sys.exit(args.crash_on_invoke)
            if args.exit_error_on_invoke:
                h = dict(me, **{"Lambda-Extension-Function-Error-Type": args.exit_error_on_invoke})
                st, _, r = call("POST", "/exit/error", b"{}", h)
                say("EXIT-ERROR", {"status": st, "body": r})
                st, _, r = call("GET", "/event/next", headers=me)
                say("AFTER-EXIT-ERROR", {"status": st, "body": r})
                sys.exit(0)
            time.sleep(args.post_invoke_sleep_ms / 1000)
        elif event["eventType"] == "SHUTDOWN":
            if args.ignore_shutdown:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
                while True:
                    time.sleep(1)
            time.sleep(args.shutdown_delay_ms / 1000)
            sys.exit(args.shutdown_exit_code)


if __name__ == "__main__":
    main(sys.argv[1:])
