"""The example functions (examples/{python,node,java,go}), each through its own Runtime API loop, against pscache.

Each runs as the custom runtime of the emulator: init, invokes that read a parameter and a secret, the error
path of a missing parameter, and the upstream calls counted at the fault proxy to show repeat reads are cached.
"""

import pytest

from locallambda.emulator import SNAP_START
from locallambda.runtimes import runtime_command

SECRET_ID = "pscache/examples+key=1@x"  # '+', '=' and '@' reach the right secret only if the name is URL-encoded
EXPECTED = {
    "parameter": {"name": "/pscache/string", "version": 2, "value": "value-v2"},
    "secret": {"name": SECRET_ID, "value": "exa... (20 chars)"},  # the handlers never return a secret in clear
}
LANGUAGES = [
    "python",
    "node",
    pytest.param("java", marks=pytest.mark.slow),  # javac, then a JVM per environment
    pytest.param("go", marks=pytest.mark.slow),  # a cold `go build` takes a while
]


@pytest.fixture(scope="module")
def example(tmp_path_factory, aws):
    """language -> (runtime command, _HANDLER), each built once per module."""
    aws["sm"].create_secret(Name=SECRET_ID, SecretString="example-secret-value")
    build_dir = tmp_path_factory.mktemp("examples")
    built = {}

    def get(language):
        if language not in built:
            built[language] = runtime_command(language, build_dir)
        return built[language]

    return get


def start(lam, example, language, **kwargs):
    command, handler = example(language)
    settings = {"EXAMPLE_PARAMETER": "/pscache/string", "EXAMPLE_SECRET": SECRET_ID}
    emu, _ = lam(settings, runtime=command, handler_name=handler, **kwargs)
    init = emu.init()
    assert init.ok, (init, emu.runtime_output())
    return emu


@pytest.mark.parametrize("language", LANGUAGES)
def test_example_reads_through_pscache_caches_and_reports_errors(lam, proxy, example, language):
    emu = start(lam, example, language)
    for _ in range(3):
        result = emu.invoke(timeout_s=20)
        assert result.ok and result.function_error is None, (result, emu.runtime_output())
        assert result.response == EXPECTED

    secure = emu.invoke(payload={"parameter": "/pscache/secure"}, timeout_s=20)  # decrypted, then masked
    assert secure.response["parameter"] == {"name": "/pscache/secure", "version": 1, "value": "sec... (12 chars)"}

    missing = emu.invoke(payload={"parameter": "/pscache/examples/missing"}, timeout_s=20)
    assert missing.function_error == "ParameterNotFound", (missing, emu.runtime_output())
    assert missing.response["errorType"] == "ParameterNotFound"
    assert "pscache answered 404 ParameterNotFound" in missing.response["errorMessage"]

    after = emu.invoke(timeout_s=20)  # the runtime loop lives on after a failed invoke
    assert after.ok and after.response == EXPECTED and after.init is None
    # Every repeat read was a cache hit: one call per parameter, the failed one, and one for the secret.
    assert proxy.count("GetParameter") == 3 and proxy.count("GetSecretValue") == 1


@pytest.mark.parametrize("language", LANGUAGES)
def test_example_sends_the_credential_chains_session_token_under_snapstart_and_after_a_restore(lam, example, language):
    emu = start(lam, example, language, mode=SNAP_START)
    for restored in (False, True):
        if restored:
            emu.restore()  # new credentials behind the same endpoint: the next reads send the new session token
        served = emu.credentials_served
        result = emu.invoke(timeout_s=20)
        assert result.ok and result.response == EXPECTED, (result, emu.runtime_output())
        assert emu.credentials_served >= served + 2  # the example asked the chain's endpoint for each read
