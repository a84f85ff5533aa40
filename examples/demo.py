"""The main job on an embedded default: local AWS + emulated Lambda + pscache + a sample function.

    scripts/demo                     # the Python example function, pscache via `python -m app`
    scripts/demo --runtime node      # the Node.js example instead (also: java, go; they are built first)
    scripts/demo --walkthrough       # the AWS blog's walkthrough, corrected, against a throwaway MariaDB
    scripts/demo --layer DIR         # the compiled binary from an unpacked layer zip

It starts moto in server mode, seeds a parameter, a SecureString and a secret,
launches pscache as an external extension in the Lambda emulator, runs the
example function through its own runtime loop (init + three invokes), shuts
down, and prints what happened, including how many calls reached "AWS".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import boto3  # noqa: E402

from fault_proxy import FaultProxy  # noqa: E402
from harness import extensions_dir, free_port, start_moto  # noqa: E402
from lambda_emulator import LambdaEmulator  # noqa: E402
from runtimes import LANGUAGES, runtime_command, walkthrough_package  # noqa: E402

TOKEN = "demo-session-token"


def clients(endpoint: str):
    kw = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="demo", aws_secret_access_key="demo")
    return boto3.client("ssm", **kw), boto3.client("secretsmanager", **kw)


def example(args, endpoint: str, work: Path, stack: contextlib.ExitStack) -> tuple[list[str], str, dict, dict]:
    """An example function of examples/<language>: (runtime command, _HANDLER, environment, invoke payload)."""
    ssm, sm = clients(endpoint)
    ssm.put_parameter(Name="/demo/greeting", Value="hello from Parameter Store", Type="String")
    ssm.put_parameter(Name="/demo/db-password", Value="correct-horse-battery", Type="SecureString")
    sm.create_secret(Name="demo/api-key", SecretString="sk-demo-0123456789")
    command, handler = runtime_command(args.runtime, work / "build")
    env = {"EXAMPLE_PARAMETER": "/demo/greeting", "EXAMPLE_SECRET": "demo/api-key"}
    return command, handler, env, {"parameter": "/demo/db-password"}


def walkthrough(args, endpoint: str, work: Path, stack: contextlib.ExitStack) -> tuple[list[str], str, dict, dict]:
    """The blog walkthrough (examples/walkthrough) against a throwaway MariaDB on loopback."""
    from mariadb import TempMariaDB

    password = secrets.token_urlsafe(18)
    schema = ["CREATE TABLE greetings (id INT AUTO_INCREMENT PRIMARY KEY, message VARCHAR(100))",
              "INSERT INTO greetings (message) VALUES ('hello from MariaDB, the stand-in for RDS MySQL')"]
    stack.callback(shutil.rmtree, work / "db", ignore_errors=True)  # after the server stopped: its datadir
    db = stack.enter_context(TempMariaDB(work / "db", "DemoAppDatabase", "myadmin", password, schema))
    print(f"MariaDB (throwaway, datadir under {work / 'db'}) on 127.0.0.1:{db.port}")
    ssm, sm = clients(endpoint)
    config = json.dumps({"enableVersion": True, "version": 1, "app": "DemoApp"})
    for name, value in [("app_config", config), ("db/host", "127.0.0.1"), ("db/port", str(db.port)),
                        ("db/name", "DemoAppDatabase")]:
        ssm.put_parameter(Name=f"/dev/demoApp/{name}", Value=value, Type="String")
    secret = sm.create_secret(Name="dev/demoApp/db-credentials",
                              SecretString=json.dumps({"username": "myadmin", "password": password}))
    command, handler = walkthrough_package(work / "package")
    return command, handler, {"ENV": "dev", "APP_CONFIG_PATH": "demoApp/app_config", "CREDS_PATH": secret["ARN"]}, {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=LANGUAGES, default="python", help="which example function to run")
    parser.add_argument("--walkthrough", action="store_true", help="run the blog walkthrough (needs MariaDB)")
    parser.add_argument("--layer", help="unpacked layer folder (with extensions/pscache) to run instead of python -m app")
    parser.add_argument("--invokes", type=int, default=3)
    args = parser.parse_args()
    if args.layer:
        os.environ["PSCACHE_TEST_LAYER"] = os.path.abspath(args.layer)

    moto, moto_port = start_moto()
    proxy = FaultProxy(moto_port)  # counts the calls that reach the local AWS
    work = Path(tempfile.mkdtemp(prefix="pscache-demo-"))
    try:
        with contextlib.ExitStack() as stack:
            return run(args, moto_port, proxy, work, stack)
    finally:
        proxy.close()
        moto.terminate()
        moto.wait(10)


def run(args, moto_port: int, proxy: FaultProxy, work: Path, stack: contextlib.ExitStack) -> int:
    """Seed, start pscache and the function in the emulator, invoke, shut down, print what happened."""
    scenario = walkthrough if args.walkthrough else example
    runtime, handler, function_env, payload = scenario(args, f"http://127.0.0.1:{moto_port}", work, stack)
    env = {
        "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_SESSION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL": proxy.url,
        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(free_port()),
        **function_env,
    }
    print(f"local AWS (moto server) on 127.0.0.1:{moto_port}; pscache on port {env['PARAMETERS_SECRETS_EXTENSION_HTTP_PORT']}")
    print(f"extension: {extensions_dir(work) / 'pscache'}; runtime: {' '.join(runtime)}\n")
    with LambdaEmulator(extensions_dir(work), env=env, runtime=runtime, handler_name=handler,
                        log_dir=work / "logs") as emu:
        init = emu.init()
        agent = emu.agent("pscache")
        print(f"INIT  ok={init.ok} {init.duration_ms:.0f} ms; pscache exec->register "
              f"{(agent.t_register - agent.t_exec) * 1000:.1f} ms, exec->first next {(agent.t_first_next - agent.t_exec) * 1000:.1f} ms")
        if not init.ok:
            print(emu.output("pscache"), emu.runtime_output())
            return 1
        for n in range(1, args.invokes + 1):
            before = (proxy.count("GetParameter"), proxy.count("GetSecretValue"))
            result = emu.invoke(payload=payload, timeout_s=15)
            calls = (proxy.count("GetParameter") - before[0], proxy.count("GetSecretValue") - before[1])
            print(f"INVOKE {n}: ok={result.ok} {result.duration_ms:.1f} ms, pscache back in next after "
                  f"{result.post_runtime_extensions_ms:.1f} ms; AWS calls: GetParameter {calls[0]}, GetSecretValue {calls[1]}")
            print(f"   function {'failed: ' + result.function_error if result.function_error else 'returned'} "
                  + json.dumps(result.response, indent=None))
        shutdown = emu.shutdown()
        ext = shutdown.extensions["pscache"]
        print(f"SHUTDOWN reason={shutdown.reason}: pscache {ext.state}, exit code {ext.exit_code}, "
              f"{ext.exit_ms:.0f} ms after the event")
        print("\npscache's log:\n" + emu.output("pscache"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
