"""The cold path diet: what start-up skips, defers or shares still works the same for the user."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from app import config
from app.main import sdk_before_next
from harness import ROOT, http_get
from locallambda import pagecache
from locallambda.fault_proxy import FaultProxy
from locallambda.tls import make_certificates, server_context

PARAM = "/systemsmanager/parameters/get?name=%2Fpscache%2Fstring"
SECRET = "/secretsmanager/get?secretId=pscache%2Fsecret"


def settings(**env) -> config.Settings:
    return config.load({k: str(v) for k, v in env.items()}, argv0="pscache")


@pytest.mark.parametrize("env,cpu_rate,waits", [
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128}, 0.55, True),  # INIT far faster than 128 MB's 7 % share: boosted
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128}, 0.095, False),  # INIT at the share: waiting only lengthens it
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 512}, 0.5, True),
    # 512 MB at the share measured 0.64 (a short start-up spans two CFS periods): waiting then costs INIT ~1 s,
    # never the first value, and the boost cannot be told apart.
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 512}, 0.64, True),
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 512}, 0.2, False),  # clearly at 512 MB's 29 % share
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 1024}, 0.55, True),  # boosted, cold files: not faster than the share
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 1769}, 0.6, True),  # a full CPU either way: waiting costs ~0.25 s of INIT
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 1769}, 0.2, False),  # far under any CPU the function could have
    ({}, 0.9, False),  # outside Lambda there is no INIT to speak of
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128, "AWS_LAMBDA_INITIALIZATION_TYPE": "provisioned-concurrency"}, 0.05, True),
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128, "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start"}, 0.05, True),
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 128, "PSCACHE_SDK_LOAD": "after-next"}, 0.9, False),
    ({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 1769, "PSCACHE_SDK_LOAD": "before-next"}, 0.05, True),
])
def test_init_waits_for_the_sdk_only_where_init_cpu_is_cheaper(env, cpu_rate, waits):
    assert sdk_before_next(settings(**env), cpu_rate) is waits


def test_with_before_next_init_ends_with_both_clients_made(lam):
    emu, port = lam({"PSCACHE_SDK_LOAD": "before-next"}, freeze=False)
    assert emu.init().ok
    assert http_get(port, "/pscache/stats").json()["clients"] == ["ssm", "secretsmanager"]  # no AWS call yet
    assert http_get(port, PARAM).status == 200


def test_init_runs_the_first_calls_ahead_without_fetching_or_counting_anything(lam, proxy):
    """Before `next`, each client has made its read call once (answered in-process) and pscache has served itself
    one request: nothing reached AWS, nothing was cached or counted, and the first read fetches the real value."""
    emu, port = lam({"PSCACHE_SDK_LOAD": "before-next", "PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL": "debug"}, freeze=False)
    assert emu.init().ok
    assert sum(proxy.count(op) for op in ("GetParameter", "GetSecretValue")) == 0
    stats = http_get(port, "/pscache/stats").json()
    assert stats["upstream"] == {} and stats["cache"]["entries"] == 0 and stats["cache"]["miss"] == 0, stats
    output = emu.output("pscache")
    for service in ("ssm", "secretsmanager"):
        assert f"{service}: first call made ahead (answered in-process, nothing sent); connection open" in output, output
    r = http_get(port, PARAM)
    assert r.status == 200 and r.json()["Parameter"]["Value"] == "value-v2" and r.headers["x-pscache-cache"] == "miss"
    assert proxy.count("GetParameter") == 1


def test_a_read_made_while_its_client_is_primed_gets_the_real_value(moto, aws):
    """Priming answers its own call in-process; a read the function makes on the same client meanwhile (a local
    server takes requests while the SDK warms up) must go to AWS, not get the canned answer."""
    import asyncio

    import aioboto3
    from aiobotocore.config import AioConfig

    from app.http_session import PlainHttpSession
    from app.prime import prime_client

    async def race() -> tuple:
        session = aioboto3.Session(region_name="us-east-1", aws_access_key_id="testing",
                                   aws_secret_access_key="testing")
        config = AioConfig(http_session_cls=PlainHttpSession)  # pscache's: priming also opens a connection
        async with session.client("ssm", endpoint_url=moto, config=config) as client:
            priming = asyncio.ensure_future(prime_client(client, "ssm", connect=True))
            reads = [asyncio.ensure_future(client.get_parameter(Name="/pscache/string")) for _ in range(5)]
            await priming
            return tuple([(await r)["Parameter"]["Value"] for r in reads])

    assert asyncio.run(race()) == ("value-v2",) * 5


def test_upstream_tls_is_verified_against_the_ca_bundle_only(tmp_path, moto, aws, start_ext):
    """One TLS context serves both clients, and the CA it trusts is botocore's bundle or AWS_CA_BUNDLE: the
    system's default CA locations (SSL_CERT_FILE) never decide."""
    certificates = make_certificates(tmp_path / "certs")
    tls = FaultProxy(int(moto.rsplit(":", 1)[1]), tls=server_context(certificates))
    try:
        trusted = start_ext(AWS_ENDPOINT_URL=tls.url, AWS_CA_BUNDLE=certificates["ca.pem"])
        assert trusted.get(PARAM).status == 200 and trusted.get(SECRET).status == 200
        assert tls.count("GetParameter") == 1 and tls.count("GetSecretValue") == 1
        untrusted = start_ext(AWS_ENDPOINT_URL=tls.url, SSL_CERT_FILE=certificates["ca.pem"])
        r = untrusted.get(PARAM)
        assert r.status == 502 and r.error_code == "UpstreamUnavailable", r
        assert "certificate verify failed" in r.error_message
        # A <bundle>.d hashed folder beside the bundle (the layer has one for botocore's) is what verifies: here the
        # bundle file itself is empty.
        bundle = tmp_path / "hashed" / "bundle.pem"
        (tmp_path / "hashed" / "bundle.pem.d").mkdir(parents=True)
        bundle.write_text("")
        shutil.copy(certificates["ca.pem"], tmp_path / "hashed" / "bundle.pem.d" / "ca.pem")
        subprocess.run(["openssl", "rehash", str(tmp_path / "hashed" / "bundle.pem.d")], check=True)
        hashed = start_ext(AWS_ENDPOINT_URL=tls.url, AWS_CA_BUNDLE=bundle)
        assert hashed.get(PARAM).status == 200 and hashed.get(SECRET).status == 200
    finally:
        tls.close()


def test_a_ca_bundle_that_cannot_be_loaded_is_named_in_the_warning_and_the_error(tmp_path, moto, aws, start_ext):
    """Locally pscache still starts (the bundle may be fixed, or the variable meant for something else), warns with
    the variable and the path, and a read's error names the file instead of a bare 'No such file or directory'."""
    tls = FaultProxy(int(moto.rsplit(":", 1)[1]), tls=server_context(make_certificates(tmp_path / "certs")))
    try:
        missing = tmp_path / "no-such-ca.pem"
        ext = start_ext(AWS_ENDPOINT_URL=tls.url, AWS_CA_BUNDLE=missing)
        r = ext.get(PARAM)
        assert r.status == 502 and r.error_code == "UpstreamUnavailable"
        assert str(missing) in r.error_message and "set by AWS_CA_BUNDLE" in r.error_message, r
        assert f"AWS_CA_BUNDLE={missing}: no such file" in ext.output()
        # Not a CA bundle at all: OpenSSL's complaint, with the file and the variable named.
        garbage = tmp_path / "garbage.pem"
        garbage.write_text("not a certificate\n")
        r = start_ext(AWS_ENDPOINT_URL=tls.url, REQUESTS_CA_BUNDLE=garbage).get(SECRET)
        assert r.status == 502 and str(garbage) in r.error_message, r
        assert "set by REQUESTS_CA_BUNDLE" in r.error_message
        assert tls.count("GetParameter") == tls.count("GetSecretValue") == 0
    finally:
        tls.close()


def test_a_ca_bundle_that_is_a_hashed_folder_verifies(tmp_path, moto, start_ext):
    """REQUESTS_CA_BUNDLE and AWS_CA_BUNDLE may name a folder of hashed certificates (requests and botocore accept
    one); aiobotocore's own loader only takes a file."""
    certificates = make_certificates(tmp_path / "certs")
    folder = tmp_path / "ca-folder"
    folder.mkdir()
    shutil.copy(certificates["ca.pem"], folder / "ca.pem")
    subprocess.run(["openssl", "rehash", str(folder)], check=True)
    tls = FaultProxy(int(moto.rsplit(":", 1)[1]), tls=server_context(certificates))
    try:
        ext = start_ext(AWS_ENDPOINT_URL=tls.url, REQUESTS_CA_BUNDLE=folder)
        assert ext.get(PARAM).status == 200 and ext.get(SECRET).status == 200
    finally:
        tls.close()


LEAN = """
import sys
from app import lean_imports
lean_imports.server_stack()
lean_imports.sdk_stack()
import uvicorn.config, uvicorn.server
import starlette.applications
with lean_imports.no_default_ca():
    import aioboto3
import botocore.session
skipped = [m for m in ("click", "uvicorn.main", "importlib.metadata", "botocore.docs.method", "boto3.docs.action",
                      "aiohttp.client_middleware_digest_auth", "aiohttp.payload_streamer", "logging.handlers",
                      "idna.core", "html.entities")
           if m in sys.modules]
client = botocore.session.get_session().create_client("ssm", region_name="us-east-1",
                                                      aws_access_key_id="x", aws_secret_access_key="x")
import uvicorn
import os
import aiohttp
import aiohttp.client
import logging.config
import yarl
import html
print(skipped, repr(client.get_parameter.__doc__), callable(uvicorn.run), os.environ.get("SSL_CERT_FILE"),
      os.environ.get("SSL_CERT_DIR"), aiohttp.ClientSession is aiohttp.client.ClientSession,
      aiohttp.DigestAuthMiddleware.__module__, aiohttp.__version__ == aiohttp.http.__version__,
      logging.config.dictConfig.__module__, yarl.URL("http://bücher.example/").raw_host,
      html.escape("<&>"))
"""


def test_the_lean_stack_skips_what_pscache_never_uses_and_still_has_it_on_demand():
    env = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    env["SSL_CERT_FILE"] = "/etc/custom-ca.pem"
    out = subprocess.run([sys.executable, "-OO", "-c", LEAN], cwd=ROOT, env=env, capture_output=True, text=True,
                         check=True)
    # Nothing unused was imported; a client method's docstring is empty; uvicorn.run loads uvicorn.main on
    # demand; the CA variables are as they were; aiohttp's client names are aiohttp.client's, and the rest of the
    # package (its real __init__) loads when a name only it has is asked for; logging.config, idna (a host
    # name that is not ASCII) and html run when used.
    assert out.stdout.split() == ["[]", "''", "True", "/etc/custom-ca.pem", "None", "True",
                                  "aiohttp.client_middleware_digest_auth", "True", "logging.config",
                                  "xn--bcher-kva.example", "&lt;&amp;&gt;"], out


def test_modules_imported_uncached_leave_no_page_cache(tmp_path):
    lib = tmp_path / "lib"
    (lib / "pkg").mkdir(parents=True)
    (lib / "pkg" / "__init__.py").write_text("")
    (lib / "pkg" / "mod.py").write_text("VALUE = 'x' * 100\n" * 2000)
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-b", str(lib)], check=True)
    for source in lib.rglob("*.py"):
        source.unlink()
    pyc = lib / "pkg" / "mod.pyc"
    for uncached in (False, True):
        pagecache.evict([lib])
        install = f"uncached_imports.install({str(lib)!r})" if uncached else "pass"
        code = (f"import sys\nfrom app import uncached_imports\n{install}\nsys.path.append({str(lib)!r})\n"
                "import pkg.mod\nprint(len(pkg.mod.VALUE))\n")
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
        assert out.stdout.split()[-1] == "100"
        resident = int(subprocess.run(["fincore", "--bytes", "--noheadings", "--output", "RES", str(pyc)],
                                      capture_output=True, text=True, check=True).stdout.split()[0])
        assert (resident == 0) is uncached, (uncached, resident)


LARGEST_SECRET = 65536  # characters: Secrets Manager's limit for SecretString


@pytest.mark.slow
def test_at_128_mb_a_cache_full_of_the_largest_secrets_stays_under_its_share(lam, aws):
    """The byte cap's default under Lambda (1/16 of the memory: 8 MiB at 128 MB) holds with the largest values
    Secrets Manager allows: the cache evicts, and the environment never gets near its memory limit."""
    ids = [f"pscache/largest/{i:03}" for i in range(200)]  # 13 MB of values: more than the cap
    for i, secret_id in enumerate(ids):
        try:
            aws["sm"].create_secret(Name=secret_id, SecretString=str(i % 10) * LARGEST_SECRET)
        except aws["sm"].exceptions.ResourceExistsException:
            pass
    emu, port = lam(sized=True, memory_mb=128, init_cpu="boost")

    def read_all(event, context):
        statuses = [http_get(port, "/secretsmanager/batch?secretIds=" + ",".join(ids[i:i + 20]), timeout=60).status
                    for i in range(0, len(ids), 20)]
        return {"statuses": statuses, "stats": http_get(port, "/pscache/stats").json()}

    result = emu.invoke(handler=read_all, timeout_s=120)
    assert result.ok, result
    assert result.response["statuses"] == [200] * 10
    cache = result.response["stats"]["cache"]
    assert 6 << 20 <= cache["bytes"] <= 8 << 20 and cache["entries"] < len(ids)  # full, and evicting
    assert result.report.max_memory_used_mb < 100, result.report.line()
