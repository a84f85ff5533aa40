"""Run the container-image example under AWS's Runtime Interface Emulator and invoke it twice.

    python examples/container/invoke.py IMAGE      (scripts/test-container-image builds IMAGE and runs this)

The local AWS is moto behind the counting proxy (locallambda); the container shares the host's network (the
project's Docker engine has no bridge) and every address it uses is a free loopback port. Passes when both invokes
return the parameter and the (masked) secret read through pscache, and AWS saw one call of each: the second invoke's
reads were cache hits. Exit status 0 on success, 1 otherwise; the container's log is printed either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request

from locallambda.local_aws import LocalAws, extension_env
from locallambda.net import free_port

TOKEN = "container-example-session-token"
PARAMETER, VALUE = "/pscache-container/greeting", "hello from Parameter Store, through pscache in an image"
SECRET = "pscache-container/api-key"
EXPECTED = {"parameter": {"name": PARAMETER, "version": 1, "value": VALUE},
            "secret": {"name": SECRET, "value": "con... (26 chars)"}}


def invoke(port: int, timeout: float = 60) -> dict:
    url = f"http://127.0.0.1:{port}/2015-03-31/functions/function/invocations"
    request = urllib.request.Request(url, data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.load(response)


def wait_for(port: int, container: str, seconds: float = 30) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", container],
                                     capture_output=True, text=True).stdout.strip()
            if running != "true":
                raise RuntimeError(f"the container stopped before the emulator listened on {port}")
            time.sleep(0.2)
    raise RuntimeError(f"the emulator did not listen on 127.0.0.1:{port} within {seconds:.0f} s")


def main(image: str) -> int:
    with LocalAws() as aws:
        aws.client("ssm").put_parameter(Name=PARAMETER, Value=VALUE, Type="String")
        aws.client("secretsmanager").create_secret(Name=SECRET, SecretString="container-example-secret-1")
        rie, runtime_api, pscache = free_port(), free_port(), free_port()
        env = extension_env(aws.endpoint, TOKEN, pscache)
        env.pop("PATH")  # the image's own
        env.update(EXAMPLE_PARAMETER=PARAMETER, EXAMPLE_SECRET=SECRET,
                   RIE_ARGS=f"--runtime-interface-emulator-address 127.0.0.1:{rie} "
                            f"--runtime-api-address 127.0.0.1:{runtime_api}")
        name = f"pscache-container-example-{os.getpid()}"
        run = ["docker", "run", "--detach", "--network", "host", "--name", name]
        for key, value in env.items():
            run += ["--env", f"{key}={value}"]
        subprocess.run([*run, image], check=True, stdout=subprocess.DEVNULL)
        try:
            wait_for(rie, name)
            results = [invoke(rie) for _ in range(2)]
            calls = {op: aws.proxy.count(op) for op in ("GetParameter", "GetSecretValue")}
            print(f"invoke 1: {json.dumps(results[0])}\ninvoke 2: {json.dumps(results[1])}\nupstream calls: {calls}")
            ok = results == [EXPECTED, EXPECTED] and calls == {"GetParameter": 1, "GetSecretValue": 1}
        finally:
            log = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            subprocess.run(["docker", "rm", "--force", name], capture_output=True)
            print("--- the container's log (the emulator, pscache, the function):")
            print((log.stdout + log.stderr).rstrip())
    if not ok:
        print(f"FAIL: expected {json.dumps(EXPECTED)} twice and one upstream call of each", file=sys.stderr)
        return 1
    print("PASS: the value came through pscache, and the second invoke's reads were cache hits")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__.split("\n\n")[1])
    sys.exit(main(sys.argv[1]))
