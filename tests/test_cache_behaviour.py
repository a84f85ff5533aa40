"""What the cache does, shown by counting the calls that reach the local AWS."""

import time
from urllib.parse import quote

import pytest

from locallambda import fault_proxy as faults

PARAM = "/systemsmanager/parameters/get"
SECRET = "/secretsmanager/get"


def param(ext, name, extra=""):
    return ext.get(f"{PARAM}?name={quote(name, safe='')}{extra}")


def test_repeat_requests_are_served_from_the_cache(start_ext, proxy):
    ext = start_ext()
    for _ in range(5):
        assert param(ext, "/pscache/string").status == 200
        assert ext.get(f"{SECRET}?secretId=pscache/secret").status == 200
    assert proxy.count("GetParameter") == 1 and proxy.count("GetSecretValue") == 1


def test_every_selector_is_its_own_entry(start_ext, proxy):
    ext = start_ext()
    variants = ["", "&version=1", "&label=stable", "&withDecryption=true"]
    for _ in range(2):
        for extra in variants:
            assert param(ext, "/pscache/string", extra).status == 200
    assert proxy.count("GetParameter") == len(variants)
    for _ in range(2):
        ext.get(f"{SECRET}?secretId=pscache/secret")
        ext.get(f"{SECRET}?secretId=pscache/secret&versionStage=AWSPREVIOUS")
    assert proxy.count("GetSecretValue") == 2


def test_ttl_expires_counted_from_the_fetch(start_ext, proxy):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=1, SECRETS_MANAGER_TTL=1)
    param(ext, "/pscache/string")
    ext.get(f"{SECRET}?secretId=pscache/secret")
    time.sleep(0.5)
    param(ext, "/pscache/string")  # a hit does not extend the lifetime
    time.sleep(0.7)
    param(ext, "/pscache/string")
    ext.get(f"{SECRET}?secretId=pscache/secret")
    assert proxy.count("GetParameter") == 2 and proxy.count("GetSecretValue") == 2


def test_lru_eviction_at_cache_size(start_ext, proxy):
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=2)
    for name in ["/pscache/lru/0", "/pscache/lru/1", "/pscache/lru/0", "/pscache/lru/2"]:
        assert param(ext, name).status == 200
    assert proxy.count("GetParameter") == 3  # lru/0 was a hit
    assert param(ext, "/pscache/lru/0").status == 200  # still cached: recently used
    assert proxy.count("GetParameter") == 3
    assert param(ext, "/pscache/lru/1").status == 200  # evicted as least recently used
    assert proxy.count("GetParameter") == 4


@pytest.mark.parametrize(
    "settings",
    [
        {"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "FALSE"},
        {"PARAMETERS_SECRETS_EXTENSION_CACHE_ENABLED": "false"},
        {"PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE": 0},
    ],
)
def test_cache_fully_bypassed(start_ext, proxy, settings):
    ext = start_ext(**settings)
    for _ in range(3):
        param(ext, "/pscache/string")
        ext.get(f"{SECRET}?secretId=pscache/secret")
    assert proxy.count("GetParameter") == 3 and proxy.count("GetSecretValue") == 3


def test_ttl_zero_bypasses_only_that_store(start_ext, proxy):
    ext = start_ext(SSM_PARAMETER_STORE_TTL=0)
    for _ in range(3):
        param(ext, "/pscache/string")
        ext.get(f"{SECRET}?secretId=pscache/secret")
    assert proxy.count("GetParameter") == 3 and proxy.count("GetSecretValue") == 1


def test_ttl_above_300_is_clamped_with_a_warn_line(start_ext):
    ext = start_ext(SECRETS_MANAGER_TTL=3600)
    lines = [line for line in ext.output().splitlines() if " WARN " in line]
    assert any("SECRETS_MANAGER_TTL=3600" in line and "300" in line for line in lines)


def test_cache_size_above_1000_is_clamped_with_a_warn_line(start_ext):
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=2000)
    assert any("PARAMETERS_SECRETS_EXTENSION_CACHE_SIZE=2000" in line and " WARN " in line for line in ext.output().splitlines())


@pytest.mark.parametrize("connections", [1, 3])
def test_max_connections_bounds_concurrent_upstream_calls(start_ext, proxy, connections):
    import threading

    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_MAX_CONNECTIONS=connections)
    proxy.always("GetParameter", faults.delay(0.3))
    threads = [threading.Thread(target=param, args=(ext, f"/pscache/lru/{i}")) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert proxy.count("GetParameter") == 6
    assert proxy.max_in_flight == connections
