"""The main job on an embedded default: local AWS + emulated Lambda + pscache + a sample function.

    scripts/demo                     # the Python example function, pscache via `python -m app`
    scripts/demo --runtime node      # the Node.js example instead (also: java, go; they are built first)
    scripts/demo --walkthrough       # the AWS blog's walkthrough, corrected, against a throwaway MariaDB
    scripts/demo --layer DIR         # the compiled binary from an unpacked layer zip
    scripts/demo --memory 128        # in a sized environment: 128 MB's CPU share and memory limit, cold files
                                     # (--init-cpu boost: INIT at one CPU; needs root and cgroups)
    scripts/demo --parameter /demo/missing   # what each invoke reads: here the error path (the demo then fails)

The exit status is 0 only if every invoke succeeded and pscache exited cleanly.

It starts moto in server mode, seeds a parameter, a SecureString and a secret,
launches pscache as an external extension in the Lambda emulator, runs the
example function through its own runtime loop (init + three invokes), shuts
down, and prints what happened, Lambda's REPORT line of every invoke among it,
including how many calls reached "AWS".
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

from locallambda.emulator import LambdaEmulator
from locallambda.extensions import cold_files, pscache_extensions
from locallambda.local_aws import LocalAws
from locallambda.net import free_port
from locallambda.runtimes import LANGUAGES, runtime_command, walkthrough_package
from locallambda.sized import INIT_CPU_MODELS, SizedUnavailable

TOKEN = "demo-session-token"


def example(args, aws: LocalAws, work: Path, stack: contextlib.ExitStack) -> tuple[list[str], str, dict, dict]:
    """An example function of examples/<language>: (runtime command, _HANDLER, environment, invoke payload)."""
    ssm, sm = aws.client("ssm"), aws.client("secretsmanager")
    ssm.put_parameter(Name="/demo/greeting", Value="hello from Parameter Store", Type="String")
    ssm.put_parameter(Name="/demo/db-password", Value="correct-horse-battery", Type="SecureString")
    sm.create_secret(Name="demo/api-key", SecretString="sk-demo-0123456789")
    command, handler = runtime_command(args.runtime, work / "build")
    env = {"EXAMPLE_PARAMETER": "/demo/greeting", "EXAMPLE_SECRET": "demo/api-key"}
    return command, handler, env, {"parameter": args.parameter}


def walkthrough(args, aws: LocalAws, work: Path, stack: contextlib.ExitStack) -> tuple[list[str], str, dict, dict]:
    """The blog walkthrough (examples/walkthrough) against a throwaway MariaDB on loopback."""
    from locallambda.mariadb import TempMariaDB

    password = secrets.token_urlsafe(18)
    schema = ["CREATE TABLE greetings (id INT AUTO_INCREMENT PRIMARY KEY, message VARCHAR(100))",
              "INSERT INTO greetings (message) VALUES ('hello from MariaDB, the stand-in for RDS MySQL')"]
    stack.callback(shutil.rmtree, work / "db", ignore_errors=True)  # after the server stopped: its datadir
    db = stack.enter_context(TempMariaDB(work / "db", "DemoAppDatabase", "myadmin", password, schema))
    print(f"MariaDB (throwaway, datadir under {work / 'db'}) on 127.0.0.1:{db.port}")
    ssm, sm = aws.client("ssm"), aws.client("secretsmanager")
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
    parser.add_argument("--parameter", default="/demo/db-password",
                        help="the parameter each invoke of the example reads (seeded: /demo/greeting, /demo/db-password)")
    parser.add_argument("--memory", type=int, metavar="MB",
                        help="run in a sized environment of this memory size (128-10240): CPU share, memory limit, "
                             "files evicted from the page cache first")
    parser.add_argument("--init-cpu", choices=INIT_CPU_MODELS, default="share",
                        help="with --memory: INIT at the CPU share, or boosted to one CPU (boost)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="pscache-demo-"))
    try:
        with LocalAws() as aws, contextlib.ExitStack() as stack:  # the proxy counts the calls that reach "AWS"
            return run(args, aws, work, stack)
    except SizedUnavailable as exc:
        print(f"demo: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, aws: LocalAws, work: Path, stack: contextlib.ExitStack) -> int:
    """Seed, start pscache and the function in the emulator, invoke, shut down, print what happened."""
    scenario = walkthrough if args.walkthrough else example
    runtime, handler, function_env, payload = scenario(args, aws, work, stack)
    proxy = aws.proxy
    env = {
        "AWS_ACCESS_KEY_ID": "demo", "AWS_SECRET_ACCESS_KEY": "demo", "AWS_SESSION_TOKEN": TOKEN,
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_CONFIG_FILE": "/nonexistent", "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(free_port()),
        **function_env,
    }
    extensions = pscache_extensions(work, args.layer)
    sizing = {}
    if args.memory:
        sizing = dict(sized=True, memory_mb=args.memory, init_cpu=args.init_cpu, evict_paths=cold_files(extensions))
    print(f"local AWS (moto server) on 127.0.0.1:{aws.port}; pscache on port {env['PARAMETERS_SECRETS_EXTENSION_HTTP_PORT']}")
    print(f"extension: {extensions / 'pscache'}; runtime: {' '.join(runtime)}")
    with LambdaEmulator(extensions, env=env, runtime=runtime, handler_name=handler, log_dir=work / "logs",
                        init_timeout_s=30 if args.memory else 10, **sizing) as emu:
        if emu.cgroups:
            print(f"sized environment: {args.memory} MB, CPU quota {emu.cpu_quota_us()} us per 100 ms, "
                  f"INIT CPU '{args.init_cpu}', files evicted from the page cache; {emu.cgroups.description}")
        print()
        failed = 0
        for n in range(1, args.invokes + 1):
            before = (proxy.count("GetParameter"), proxy.count("GetSecretValue"))
            result = emu.invoke(payload=payload, timeout_s=60 if args.memory else 15)
            calls = (proxy.count("GetParameter") - before[0], proxy.count("GetSecretValue") - before[1])
            if result.init is not None:
                agent = emu.agent("pscache")
                registered = f"{(agent.t_register - agent.t_exec) * 1000:.1f} ms" if agent.t_register else "never"
                first_next = f"{(agent.t_first_next - agent.t_exec) * 1000:.1f} ms" if agent.t_first_next else "never"
                print(f"INIT  ok={result.init.ok} {result.init.duration_ms:.0f} ms; pscache exec->register {registered}, "
                      f"exec->first next {first_next}")
                if not result.init.ok:
                    print(emu.output("pscache"), emu.runtime_output())
                    return 1
            print(f"INVOKE {n}: ok={result.ok} {result.duration_ms:.1f} ms, pscache back in next after "
                  f"{result.post_runtime_extensions_ms or 0:.1f} ms; AWS calls: GetParameter {calls[0]}, "
                  f"GetSecretValue {calls[1]}")
            print(f"   function {'failed: ' + result.function_error if result.function_error else 'returned'} "
                  + json.dumps(result.response, indent=None))
            if result.report is not None:
                print(result.report.line())
                print("\n".join(result.report.process_lines()))
            failed += not result.ok or result.function_error is not None
        shutdown = emu.shutdown()
        ext = shutdown.extensions["pscache"]
        print(f"SHUTDOWN reason={shutdown.reason}: pscache {ext.state}, exit code {ext.exit_code}, "
              f"{ext.exit_ms:.0f} ms after the event")
        print("\npscache's log:\n" + emu.output("pscache"))
    if failed or ext.exit_code != 0:
        # The main job proves the whole chain: a failed invoke or an unclean exit is a failed demo.
        print(f"demo: FAILED ({failed} of {args.invokes} invokes failed; pscache exit code {ext.exit_code})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
