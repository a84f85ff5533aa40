"""PSCACHE_WORKERS: hits answered by several processes, still one cache and one upstream call per key
(app/workers.py)."""

import http.client
import json
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app import config
from app.mirror import Mirror
from harness import TOKEN, http_get, raw_request
from locallambda.procstat import memory, tree

PARAM = "/systemsmanager/parameters/get?name=/pscache/workers/one"
HEADERS = {"X-Aws-Parameters-Secrets-Token": TOKEN}


# -- the setting ----------------------------------------------------------------

def test_workers_default_to_one_and_under_managed_instances_follow_the_concurrency():
    assert config.load({}, argv0="pscache").workers == 1
    assert config.default_workers("", 1600, 8) == 1  # only Managed Instances runs many invocations at once
    lmi = config.LMI
    assert config.default_workers(lmi, 64, 8) == 1
    assert config.default_workers(lmi, 128, 8) == 2
    assert config.default_workers(lmi, 1600, 4) == 4  # never more than the usable cores
    assert config.default_workers(lmi, 0, 3) == 3
    env = {"AWS_LAMBDA_INITIALIZATION_TYPE": lmi, "AWS_LAMBDA_MAX_CONCURRENCY": "100000"}
    assert config.load(env, argv0="pscache").workers == config.usable_cores()
    assert config.load({**env, "PSCACHE_WORKERS": "1"}, argv0="pscache").workers == 1
    # Without a cache a hit worker has nothing to answer: one process.
    assert config.load({**env, "PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"}, argv0="pscache").workers == 1
    no_ttl = {**env, "SSM_PARAMETER_STORE_TTL": "0", "SECRETS_MANAGER_TTL": "0"}
    assert config.load(no_ttl, argv0="pscache").workers == 1


@pytest.mark.parametrize("raw", ["0", "65", "two"])
def test_an_invalid_workers_value_names_the_variable_and_the_range(raw):
    with pytest.raises(config.ConfigError) as err:
        config.load({"PSCACHE_WORKERS": raw}, argv0="pscache")
    assert f"PSCACHE_WORKERS={raw!r}" in str(err.value) and "1 to 64" in str(err.value)


# -- the mirror -------------------------------------------------------------------

KEY = ("ssm", "/a", "", False, None)


def test_the_mirror_answers_what_was_published_until_its_time():
    m = Mirror(2, slots=64, arena=4096)
    entry = object()
    assert m.lookup(KEY, 10.0) is None
    assert m.publish(KEY, entry, b'{"Value":"a"}', 5.0, 20.0)
    assert m.lookup(KEY, 10.0) == (b'{"Value":"a"}', 5.0)
    assert m.lookup(KEY, 20.0) is None  # from serve-until on, the owner answers
    assert m.lookup(("ssm", "/b", "", False, None), 10.0) is None
    m.drop(KEY)
    assert m.lookup(KEY, 10.0) is None
    m.publish(KEY, entry, b"x", 5.0, 20.0)
    m.clear()
    assert m.lookup(KEY, 10.0) is None


def test_a_damaged_or_overwritten_record_is_never_served():
    m = Mirror(1, slots=1, arena=1024)  # one slot: every key collides
    first, second = ("ssm", "/first", "", False, None), ("ssm", "/second", "", False, None)
    m.publish(first, object(), b"first-value", 1.0, 9.0)
    m.publish(second, object(), b"second-value", 1.0, 9.0)
    assert m.lookup(first, 2.0) is None and m.lookup(second, 2.0) == (b"second-value", 1.0)
    body_at = m._map.find(b"second-value")
    m._map[body_at] = ord("S")  # a half-written record, as a racing reader could see it
    assert m.lookup(second, 2.0) is None
    for i in range(20):  # the ring wraps many times over
        m.publish(("ssm", f"/k{i}", "", False, None), object(), b"v" * 100, 1.0, 9.0)
    assert m.lookup(("ssm", "/k19", "", False, None), 2.0) == (b"v" * 100, 1.0)
    assert m.lookup(("ssm", "/k18", "", False, None), 2.0) is None


def test_publishing_the_same_entry_again_writes_nothing_until_its_record_is_gone():
    m = Mirror(1, slots=8, arena=1024)
    entry = object()
    m.publish(KEY, entry, b"v" * 50, 1.0, 9.0)
    written = m._written
    m.publish(KEY, entry, b"v" * 50, 1.0, 9.0)
    assert m._written == written
    m.publish(KEY, object(), b"w" * 50, 1.0, 9.0)  # a new entry (a refetch) is a new record
    assert m._written > written and m.lookup(KEY, 2.0) == (b"w" * 50, 1.0)
    assert not m.publish(("ssm", "/huge", "", False, None), object(), b"h" * 600, 1.0, 9.0)


# -- the processes -----------------------------------------------------------------

def children(pid: int) -> list[int]:
    return tree(pid)[1:]


def alive(pid: int) -> bool:
    return memory(pid) is not None  # None once gone, or a zombie


def stats(port: int) -> dict:
    return json.loads(http_get(port, "/pscache/stats").body)


def read_on(conns: list, path: str = PARAM) -> list:
    answers = []
    for conn in conns:
        conn.request("GET", path, headers=HEADERS)
        r = conn.getresponse()
        answers.append((r.status, r.getheaders(), r.read()))
    return answers


@pytest.fixture
def two(start_ext, aws):
    aws["ssm"].put_parameter(Name="/pscache/workers/one", Value="w1", Type="String", Overwrite=True)
    ext = start_ext(PSCACHE_WORKERS=2)
    conns = [http.client.HTTPConnection("127.0.0.1", ext.port, timeout=10) for _ in range(24)]
    yield ext, conns
    for conn in conns:
        conn.close()


def test_two_processes_share_one_cache_and_one_upstream_call(two, proxy):
    ext, conns = two
    assert len(children(ext.proc.pid)) == 1
    answers = read_on(conns) + read_on(conns) + read_on(conns)
    assert {(status, json.loads(body)["Parameter"]["Value"]) for status, _, body in answers} == {(200, "w1")}
    assert proxy.count("GetParameter") == 1  # whichever process each of the 24 connections reached
    seen = stats(ext.port)
    assert seen["cache"]["hit"] == len(answers) - 1 and seen["cache"]["miss"] == 1
    assert seen["hitWorkers"]["workers"][0] > 0  # 24 connections: the kernel gave the worker some
    assert "2 processes answer hits" in ext.output()


def test_a_workers_hit_is_the_owners_answer(two):
    ext, conns = two
    read_on(conns[:1])
    by = {}
    for conn in conns:
        before = stats(ext.port)["hitWorkers"]["workers"][0]
        (status, headers, body), = read_on([conn])
        who = "worker" if stats(ext.port)["hitWorkers"]["workers"][0] > before else "owner"
        by.setdefault(who, (status, [(k, v) for k, v in headers if k.lower() != "date"], body))
    assert set(by) == {"worker", "owner"}
    assert by["worker"] == by["owner"]


def test_an_invalidation_reaches_every_process(two, aws):
    ext, conns = two
    read_on(conns)
    read_on(conns)
    aws["ssm"].put_parameter(Name="/pscache/workers/one", Value="w2", Type="String", Overwrite=True)
    r = http_get(ext.port, "/pscache/invalidate?name=/pscache/workers/one", method="POST", token=TOKEN)
    assert r.status == 200
    values = {json.loads(body)["Parameter"]["Value"] for _, _, body in read_on(conns)}
    assert values == {"w2"}


def test_what_a_worker_cannot_answer_the_owner_does(two):
    ext, conns = two
    read_on(conns)
    bad = read_on(conns[:8], "/systemsmanager/parameters/get?name=")  # an error: always the owner's words
    assert {status for status, _, _ in bad} == {400}
    refreshed = read_on(conns, PARAM + "&refreshNow=true")
    assert {dict(h)["x-pscache-cache"] for _, h, _ in refreshed} <= {"miss", "coalesced"}
    wrong = [http_get(ext.port, PARAM, token="wrong") for _ in range(8)]
    assert {r.status for r in wrong} == {403}
    forwarded = [http_get(ext.port, PARAM, token=TOKEN, headers={"X-Forwarded-For": "10.0.0.1"}) for _ in range(8)]
    assert {r.status for r in forwarded} == {400}
    # HTTP/1.0 without a Host header: the relay adds one for the owner.
    old = [raw_request(ext.port, f"GET {PARAM}&refreshNow=true HTTP/1.0\r\nX-Aws-Parameters-Secrets-Token: "
                                 f"{TOKEN}\r\n\r\n".encode()) for _ in range(8)]
    assert {r.status for r in old} == {200}
    assert stats(ext.port)["hitWorkers"]["workers"][0] > 0  # the worker did take part


def test_relay_connections_the_owner_closed_as_idle_are_replaced(start_ext, aws):
    ext = start_ext(PSCACHE_WORKERS=2, PSCACHE_IDLE_TIMEOUT_SECONDS=1)
    batch = "/systemsmanager/parameters/batch?names=/pscache/list"  # always the owner's: relayed by the worker
    with ThreadPoolExecutor(8) as pool:  # requests at once: the worker keeps several relay connections
        assert set(pool.map(lambda _: http_get(ext.port, batch, token=TOKEN).status, range(64))) == {200}
    time.sleep(1.5)  # the owner closes every one of them as idle
    assert {http_get(ext.port, batch, token=TOKEN).status for _ in range(16)} == {200}
    assert "did not answer" not in ext.output()


def test_a_dead_worker_leaves_the_others_serving(two):
    ext, conns = two
    worker, = children(ext.proc.pid)
    os.kill(worker, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while "exited" not in ext.output() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert f"hit worker {worker} exited (killed by signal 9); 1 process(es) go on serving" in ext.output()
    assert {http_get(ext.port, PARAM, token=TOKEN).status for _ in range(20)} == {200}


def test_sigterm_stops_every_process_and_a_killed_owner_takes_its_workers_along(start_ext):
    ext = start_ext(PSCACHE_WORKERS=3)
    workers = children(ext.proc.pid)
    assert len(workers) == 2
    assert ext.stop(signal.SIGTERM, timeout=10) == 0
    assert not any(alive(pid) for pid in workers)

    ext = start_ext(PSCACHE_WORKERS=2)
    worker, = children(ext.proc.pid)
    ext.proc.kill()
    ext.wait()
    deadline = time.monotonic() + 5
    while alive(worker) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(worker)


def test_managed_instances_serve_from_the_cores_and_stop_within_the_shutdown_deadline(lam, proxy):
    from locallambda.emulator import LMI

    emu, port = lam({"AWS_LAMBDA_MAX_CONCURRENCY": 128, "SSM_PARAMETER_STORE_TTL": 60}, mode=LMI)
    assert emu.init().ok
    owner = emu.agent("pscache").pid
    workers = children(owner)
    assert len(workers) == config.default_workers(LMI, 128, config.usable_cores()) - 1
    conns = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(16)]
    token = {"X-Aws-Parameters-Secrets-Token": TOKEN}

    def read() -> set:
        got = set()
        for conn in conns:
            conn.request("GET", "/systemsmanager/parameters/get?name=/pscache/list", headers=token)
            r = conn.getresponse()
            got.add((r.status, json.loads(r.read())["Parameter"]["Value"]))
        return got

    assert read() | read() == {(200, "a,b,c")}
    assert proxy.count("GetParameter") == 1
    for conn in conns:
        conn.close()
    result = emu.shutdown(budget_ms=1500)
    assert result.extensions["pscache"].state == "Exited"
    assert not any(alive(pid) for pid in workers)
