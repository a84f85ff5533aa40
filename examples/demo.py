"""The main job on an embedded default: local AWS + emulated Lambda + pscache + a sample function.

    scripts/demo                     # python sample function, pscache via `python -m app`
    scripts/demo --runtime node      # the Node.js sample function instead
    scripts/demo --layer DIR         # the compiled binary from an unpacked layer zip

It starts moto in server mode, seeds a parameter, a SecureString and a secret,
launches pscache as an external extension in the Lambda emulator, runs the
sample function as the runtime (init + three invokes), shuts down, and prints
what happened, including how many calls reached "AWS".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import boto3  # noqa: E402

from fault_proxy import FaultProxy  # noqa: E402
from harness import extensions_dir, free_port, start_moto  # noqa: E402
from lambda_emulator import LambdaEmulator  # noqa: E402

TOKEN = "demo-session-token"


def seed(endpoint: str) -> None:
    kw = dict(region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="demo", aws_secret_access_key="demo")
    ssm = boto3.client("ssm", **kw)
    ssm.put_parameter(Name="/demo/greeting", Value="hello from Parameter Store", Type="String")
    ssm.put_parameter(Name="/demo/db-password", Value="correct-horse-battery", Type="SecureString")
    boto3.client("secretsmanager", **kw).create_secret(Name="demo/api-key", SecretString="sk-demo-0123456789")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=["python", "node"], default="python")
    parser.add_argument("--layer", help="unpacked layer folder (with extensions/pscache) to run instead of python -m app")
    parser.add_argument("--invokes", type=int, default=3)
    args = parser.parse_args()
    if args.layer:
        os.environ["PSCACHE_TEST_LAYER"] = os.path.abspath(args.layer)

    moto, moto_port = start_moto()
    proxy = FaultProxy(moto_port)  # counts the calls that reach the local AWS
    work = Path(tempfile.mkdtemp(prefix="pscache-demo-"))
    try:
        seed(f"http://127.0.0.1:{moto_port}")
        runtime = ([sys.executable, str(ROOT / "examples/python/function.py")] if args.runtime == "python"
                   else ["node", str(ROOT / "examples/node/function.mjs")])
        env = {
            "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_SESSION_TOKEN": TOKEN,
            "AWS_ENDPOINT_URL": proxy.url,
            "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(free_port()),
            "DEMO_PARAMETER": "/demo/greeting",
        }
        print(f"local AWS (moto server) on 127.0.0.1:{moto_port}; pscache on port {env['PARAMETERS_SECRETS_EXTENSION_HTTP_PORT']}")
        print(f"extension: {extensions_dir(work) / 'pscache'}; runtime: {' '.join(runtime)}\n")
        with LambdaEmulator(extensions_dir(work), env=env, runtime=runtime, log_dir=work / "logs") as emu:
            init = emu.init()
            agent = emu.agent("pscache")
            print(f"INIT  ok={init.ok} {init.duration_ms:.0f} ms; pscache exec->register "
                  f"{(agent.t_register - agent.t_exec) * 1000:.1f} ms, exec->first next {(agent.t_first_next - agent.t_exec) * 1000:.1f} ms")
            if not init.ok:
                print(emu.output("pscache"), emu.runtime_output())
                return 1
            for n in range(1, args.invokes + 1):
                before = (proxy.count("GetParameter"), proxy.count("GetSecretValue"))
                result = emu.invoke(payload={"parameter": "/demo/db-password", "secret": "demo/api-key"}, timeout_s=15)
                calls = (proxy.count("GetParameter") - before[0], proxy.count("GetSecretValue") - before[1])
                print(f"INVOKE {n}: ok={result.ok} {result.duration_ms:.1f} ms, pscache back in next after "
                      f"{result.post_runtime_extensions_ms:.1f} ms; AWS calls: GetParameter {calls[0]}, GetSecretValue {calls[1]}")
                print("   function returned " + json.dumps(result.response, indent=None))
            shutdown = emu.shutdown()
            ext = shutdown.extensions["pscache"]
            print(f"SHUTDOWN reason={shutdown.reason}: pscache {ext.state}, exit code {ext.exit_code}, "
                  f"{ext.exit_ms:.0f} ms after the event")
            print("\npscache's log:\n" + emu.output("pscache"))
        return 0
    finally:
        proxy.close()
        moto.terminate()
        moto.wait(10)


if __name__ == "__main__":
    sys.exit(main())
