"""Security properties a user can check: loopback only, the token only from its header, no proxied requests,
no secret or token in any log at any level or in any error body, nothing written to disk, no forged log lines."""

import base64
import fcntl
import os
import socket
import struct
import subprocess
import threading
import time
from pathlib import Path

import pytest

from locallambda import fault_proxy as faults
from conftest import BINARY, SECRET_V1, SECRET_V2
from harness import TOKEN, extensions_dir, free_port, http_get, wait_until_serving

PARAM = "/systemsmanager/parameters/get"
SECRET = "/secretsmanager/get"
SECRETS = (SECRET_V1, SECRET_V2, "secure-value", base64.b64encode(BINARY).decode(), TOKEN, "testing")


# -- loopback only ----------------------------------------------------------------------

def local_addresses() -> list[tuple[int, str]]:
    """Every address of this machine's interfaces except 127.0.0.1 and ::1, without needing `ip`."""
    found = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        for _, name in socket.if_nameindex():
            try:
                raw = fcntl.ioctl(s.fileno(), 0x8915, struct.pack("256s", name.encode()[:15]))  # SIOCGIFADDR
            except OSError:
                continue  # no IPv4 address on this interface
            found.add((socket.AF_INET, socket.inet_ntoa(raw[20:24])))
    for line in Path("/proc/net/if_inet6").read_text().splitlines():
        hexaddr, _, _, scope, _, name = line.split()
        address = socket.inet_ntop(socket.AF_INET6, bytes.fromhex(hexaddr))
        found.add((socket.AF_INET6, f"{address}%{name}" if scope == "20" else address))  # 20 = link-local
    try:
        found.add((socket.AF_INET, socket.gethostbyname(socket.gethostname())))
    except OSError:
        pass
    found.add((socket.AF_INET, "127.0.0.2"))  # loopback network, but not the bound address
    return sorted(a for a in found if a[1] not in ("127.0.0.1", "::1"))


def test_a_non_loopback_address_of_this_machine_is_refused(shared_ext):
    addresses = local_addresses()
    assert addresses  # 127.0.0.2 at least; on CI machines eth0's addresses as well
    for family, address in addresses:
        with socket.socket(family, socket.SOCK_STREAM) as s:
            s.settimeout(3)
            target = socket.getaddrinfo(address, shared_ext.port, family, socket.SOCK_STREAM)[0][4]
            with pytest.raises(ConnectionRefusedError):
                s.connect(target)
    assert shared_ext.get(f"{PARAM}?name=plain-name").status == 200  # while loopback serves


# -- the token and proxies ---------------------------------------------------------------

@pytest.mark.parametrize("query", [
    f"X-Aws-Parameters-Secrets-Token={TOKEN}",
    f"x-aws-parameters-secrets-token={TOKEN}",
    f"token={TOKEN}",
    f"AWS_SESSION_TOKEN={TOKEN}",
])
@pytest.mark.parametrize("header", [None, "wrong"])
def test_the_token_is_never_taken_from_the_query_string(shared_ext, proxy, query, header):
    r = shared_ext.get(f"{PARAM}?name=plain-name&{query}", token=header)
    assert r.status == 403 and r.error_code == "InvalidToken"
    assert TOKEN not in r.body.decode()
    assert proxy.count("GetParameter") == 0


@pytest.mark.parametrize("name", ["X-Forwarded-For", "x-forwarded-for", "X-FORWARDED-FOR"])
@pytest.mark.parametrize("value", ["10.0.0.1", "127.0.0.1", "", "10.0.0.1, 127.0.0.1"])
def test_x_forwarded_for_is_refused_even_with_the_right_token(shared_ext, proxy, name, value):
    r = shared_ext.get(f"{SECRET}?secretId=pscache/secret", headers={name: value})
    assert r.status == 400 and r.error_code == "ForwardedRequest"
    assert proxy.count("GetSecretValue") == 0


# -- nothing leaks into logs or error bodies ------------------------------------------------

def exercise(e, proxy) -> list:
    """Hits, misses, decrypted values, binary secrets, bad tokens, upstream errors, faults: every error body back."""
    errors = []

    def get(path, **kw):
        r = e.get(path, **kw)
        if r.status != 200:
            errors.append(r)
        return r

    for _ in range(2):  # a miss, then a hit
        assert get(f"{SECRET}?secretId=pscache%2Fsecret").status == 200
        assert get(f"{SECRET}?secretId=pscache%2Fsecret&versionStage=AWSPREVIOUS").status == 200
        assert get(f"{SECRET}?secretId=pscache%2Fbinary").status == 200
        assert get(f"{PARAM}?name=%2Fpscache%2Fsecure&withDecryption=true").status == 200
        assert get(f"{PARAM}?name=%2Faws%2Freference%2Fsecretsmanager%2Fpscache%2Fsecret&withDecryption=true").status == 200
    for token in (None, "", TOKEN[:-1], TOKEN + "x", TOKEN.upper()):
        assert get(f"{SECRET}?secretId=pscache%2Fsecret", token=None,
                   headers={} if token is None else {"X-Aws-Parameters-Secrets-Token": token}).status == 403
    get(f"{SECRET}?secretId=pscache%2Fsecret&versionId=not-a-uuid")
    get(f"{SECRET}?secretId=pscache%2Fsecret&versionStage=NOPE")
    get(f"{PARAM}?name=%2Faws%2Freference%2Fsecretsmanager%2Fpscache%2Fsecret")
    get(f"{SECRET}?secretId=pscache%2Fsecret", headers={"X-Forwarded-For": "1.2.3.4"})
    get(f"/nope?secretId=pscache%2Fsecret&token={TOKEN}")
    for fault in (faults.throttle(), faults.error(500, "InternalServerError"), faults.reset(), faults.expired(),
                  faults.garbage()):
        proxy.inject("GetSecretValue", *[fault] * 3)
        get(f"{SECRET}?secretId=pscache%2Fsecret&versionStage=AWSCURRENT&refreshNow=true&n={len(errors)}")
    proxy.reset_state()
    return errors


@pytest.mark.slow
@pytest.mark.parametrize("level", ["debug", "info", "warn", "error"])
def test_no_secret_or_token_in_logs_or_error_bodies_at_any_level(start_ext, proxy, level):
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL=level, SECRETS_MANAGER_TTL=0)
    errors = exercise(e, proxy)
    assert len(errors) >= 15
    for r in errors:
        body = r.body.decode("utf-8", "replace")
        assert r.headers["content-type"].startswith("text/plain") and r.error_message, r
        for secret in SECRETS:
            assert secret not in body, (secret, r)
    assert e.stop() == 0
    out = e.output()
    assert out  # something was logged at every level but none
    if level == "debug":
        assert "cache hit" in out and "fetched" in out
    for secret in SECRETS:
        assert secret not in out, (level, secret)


def test_client_input_cannot_forge_log_lines(start_ext):
    """Regression: an upstream message echoing a name with a newline split pscache's log line in two."""
    e = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug")  # a missing name is logged at DEBUG
    forged = "%0A%5Bpscache%5D%202026%2F01%2F01%2000%3A00%3A00%20ERROR%20forged"
    assert e.get(f"{PARAM}?name=x{forged}").status == 404
    assert e.get(f"{SECRET}?secretId=y%00{forged}").status == 404
    e.stop()
    lines = e.output().splitlines()
    assert lines and all(line.startswith("[pscache] ") for line in lines)
    assert not any(line.split(" ", 3)[3].startswith("ERROR forged") for line in lines)
    # The parameter store echoes the name in its message: the newline shows escaped, inside the one line.
    assert any("\\x0a[pscache] 2026/01/01 00:00:00 ERROR forged" in line for line in lines)


def test_a_non_ascii_name_with_an_ascii_stdout_is_not_a_500(start_ext):
    """Regression: logging a non-ASCII name raised UnicodeEncodeError when stdout was ASCII (PYTHONIOENCODING)."""
    e = start_ext(PYTHONIOENCODING="ascii", PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug")  # logs the missing name
    r = e.get(f"{PARAM}?name=%2Fcaf%C3%A9")
    assert r.status == 404 and r.error_code == "ParameterNotFound"
    e.stop()
    assert "/caf\\xe9" in e.output()


# -- nothing written to disk ------------------------------------------------------------------

def snapshot(*roots: Path) -> dict:
    files = {}
    for root in roots:
        for path in root.rglob("*"):
            if ".git" in path.parts or ".venv" in path.parts:
                continue
            try:
                st = path.lstat()
            except FileNotFoundError:
                continue
            files[str(path)] = (st.st_size, st.st_mtime_ns)
    return files


def write_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/io").read_text().splitlines():
        if line.startswith("write_bytes:"):
            return int(line.split()[1])
    raise AssertionError("no write_bytes in /proc/<pid>/io")


@pytest.mark.slow
def test_nothing_is_written_to_disk(tmp_path, base_env, proxy):
    """The kernel's per-process count of bytes sent to storage stays 0, and HOME, TMPDIR and cwd are unchanged.

    stdout goes to a pipe (a log file would count as pscache's writes). PYTHONDONTWRITEBYTECODE stops the
    development launcher's interpreter from caching .pyc files; the compiled layer has none to write.
    """
    home, tmp, work = tmp_path / "home", tmp_path / "tmp", tmp_path / "work"
    for d in (home, tmp, work):
        d.mkdir()
    port = free_port()
    env = dict(base_env, HOME=str(home), TMPDIR=str(tmp), PARAMETERS_SECRETS_EXTENSION_HTTP_PORT=str(port),
               PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug", PYTHONDONTWRITEBYTECODE="1")
    exe = extensions_dir(tmp_path)
    before = snapshot(home, tmp, work, exe)
    proc = subprocess.Popen([str(exe / "pscache")], env=env, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    out = []
    reader = threading.Thread(target=lambda: out.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        wait_until_serving(port, proc)
        ext = type("Ext", (), {"get": lambda self, path, **kw: http_get(port, path, **kw)})()
        exercise(ext, proxy)
        time.sleep(0.5)
        written = write_bytes(proc.pid)
        open_for_writing = []
        for fd in os.listdir(f"/proc/{proc.pid}/fd"):
            target = os.readlink(f"/proc/{proc.pid}/fd/{fd}")
            flags = int(Path(f"/proc/{proc.pid}/fdinfo/{fd}").read_text().split("flags:")[1].split()[0], 8)
            if target.startswith("/") and not target.startswith("/dev/") and flags & (os.O_WRONLY | os.O_RDWR):
                open_for_writing.append(target)
    finally:
        proc.terminate()
        proc.wait(20)
        reader.join(5)
    assert written == 0, f"pscache caused {written} bytes of disk writes"
    assert open_for_writing == []
    assert snapshot(home, tmp, work, exe) == before
    assert any(b"cache hit" in line for line in out)  # it did run and log
