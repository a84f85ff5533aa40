"""A tiny Lambda runtime speaking the Runtime API (2018-06-01), for the emulator's own tests.

Run as `python fake_runtime.py [--init-error TYPE] [--sleep-ms N] [--burn-init-ms N]`. It answers each invocation
with {"echo": <payload>, "requestId": ..., "deadlineMs": ..., "arn": ..., "handler": $_HANDLER}; a payload
{"fail": true} is answered through invocation/error instead. {"burn_cpu_ms": N} first spends N ms of its own CPU
time, {"allocate_mb": N} first fills N MB of memory (held until the next invocation). Prints RUNTIME-* lines and
SIGTERM on SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import urllib.error
import urllib.request

BASE = f"http://{os.environ['AWS_LAMBDA_RUNTIME_API']}/2018-06-01/runtime"


def post(path: str, body: bytes, headers: dict | None = None) -> int:
    req = urllib.request.Request(BASE + path, data=body, method="POST", headers=headers or {})
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


def on_sigterm(*_):
    print("SIGTERM", flush=True)
    sys.exit(0)


def burn(cpu_ms: int) -> None:
    """Spin until this process has used cpu_ms of CPU time (not wall time: a throttled one takes longer)."""
    end = time.process_time() + cpu_ms / 1000
    while time.process_time() < end:
        pass


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--init-error")
    p.add_argument("--sleep-ms", type=int, default=0)
    p.add_argument("--burn-init-ms", type=int, default=0, help="spend this much CPU time during init")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    print("RUNTIME-START", json.dumps({"handler": os.environ.get("_HANDLER")}), flush=True)
    if args.init_error:
        st = post("/init/error", b'{"errorMessage":"boom","errorType":"x"}',
                  {"Lambda-Runtime-Function-Error-Type": args.init_error})
        print("RUNTIME-INIT-ERROR", st, flush=True)
        sys.exit(1)
    burn(args.burn_init_ms)
    held = b""
    while True:
        with urllib.request.urlopen(BASE + "/invocation/next") as resp:
            payload = json.loads(resp.read() or b"null")
            request_id = resp.headers["Lambda-Runtime-Aws-Request-Id"]
            result = {"echo": payload, "requestId": request_id,
                      "deadlineMs": int(resp.headers["Lambda-Runtime-Deadline-Ms"]),
                      "arn": resp.headers["Lambda-Runtime-Invoked-Function-Arn"],
                      "handler": os.environ.get("_HANDLER")}
        time.sleep(args.sleep_ms / 1000)
        if isinstance(payload, dict):
            burn(payload.get("burn_cpu_ms", 0))
            held = b"x" * (payload.get("allocate_mb", 0) << 20)  # written, so resident
            result["held_mb"] = len(held) >> 20
        if isinstance(payload, dict) and payload.get("fail"):
            st = post(f"/invocation/{request_id}/error", b'{"errorMessage":"failed","errorType":"ValueError"}',
                      {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
        else:
            st = post(f"/invocation/{request_id}/response", json.dumps(result).encode(),
                      {"Content-Type": "application/json"})
        print("RUNTIME-ANSWERED", request_id, st, flush=True)


if __name__ == "__main__":
    main()
