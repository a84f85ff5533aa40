"""Which tokens and credentials prove a caller local (app/held_credentials.py), against a credential chain whose
answers the test sets and a clock it moves: rotation, superseded credentials until their expiry, the re-read's
rate limit. The same rules end to end, in the emulator: tests/test_snapstart_token.py."""

import asyncio

from botocore.credentials import ReadOnlyCredentials

from app.held_credentials import REREAD_EVERY_S, HeldCredentials

HOUR = 3600.0


class Chain:
    """What the provider chain answers: `current` for pscache's session, `fresh` for a re-read of the chain."""

    def __init__(self, credentials, expiry=None):
        self.current = self.fresh = (credentials, expiry)
        self.rereads = 0

    async def credentials(self, fresh=False):
        if fresh:
            self.rereads += 1
            await asyncio.sleep(0.01)  # a round trip to the endpoint: concurrent misses overlap it
            return self.fresh
        return self.current


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self):
        return self.now


def creds(name):
    return ReadOnlyCredentials(f"ASIA{name.upper()}", f"secret-{name}", f"token-{name}")


def accepts(held, *tokens):
    async def run():
        return [await held.accepts_token(t.encode()) for t in tokens]

    return asyncio.run(run())


def test_the_static_token_and_the_chains_session_token_are_accepted_a_forged_one_is_not():
    clock = Clock()
    held = HeldCredentials(Chain(creds("a"), clock.now + HOUR), "container-token", clock)
    assert accepts(held, "container-token", "token-a", "forged", "") == [True, True, False, False]
    assert held.knows_a_token()


def test_a_rotation_is_found_by_one_re_read_and_the_old_token_lives_until_its_expiry():
    clock = Clock()
    chain = Chain(creds("a"), clock.now + HOUR)
    held = HeldCredentials(chain, None, clock)
    assert accepts(held, "token-a") == [True] and chain.rereads == 0  # pscache's own session had it
    chain.fresh = (creds("b"), clock.now + 6 * HOUR)  # a restore: the function's SDK got these first
    assert accepts(held, "token-b") == [True] and chain.rereads == 1
    clock.now += HOUR - 1
    chain.current = chain.fresh  # pscache's session refreshed too
    assert accepts(held, "token-a", "token-b") == [True, True]  # a function's SDK may still hold the old one
    clock.now += 2
    assert accepts(held, "token-a", "token-b") == [False, True]  # expired: refused
    assert chain.rereads == 2  # one re-read for the expired token, none for the held one


def test_forged_tokens_re_read_at_most_once_a_second_and_concurrent_misses_share_one_re_read():
    clock = Clock()
    chain = Chain(creds("a"), clock.now + HOUR)
    held = HeldCredentials(chain, None, clock)

    async def many():
        return await asyncio.gather(*(held.accepts_token(b"forged-%d" % i) for i in range(50)))

    assert not any(asyncio.run(many())) and chain.rereads == 1
    assert accepts(held, *[f"forged-{i}" for i in range(20)]) == [False] * 20 and chain.rereads == 1
    clock.now += REREAD_EVERY_S
    assert accepts(held, "forged") == [False] and chain.rereads == 2


def test_signatures_need_the_held_key_and_its_session_token():
    clock = Clock()
    chain = Chain(creds("a"), clock.now + HOUR)
    held = HeldCredentials(chain, None, clock)

    def signing(key, token):
        return asyncio.run(held.signing(key, token))

    assert signing("ASIAA", "token-a") == creds("a")
    assert signing("ASIAA", "token-x") is None and signing("ASIAA", None) is None and signing("ASIAX", "token-a") is None
    chain.fresh = chain.current = (creds("b"), clock.now + HOUR)
    clock.now += REREAD_EVERY_S
    assert signing("ASIAB", "token-b") == creds("b") and signing("ASIAA", "token-a") == creds("a")


def test_static_credentials_without_a_session_token_admit_no_token():
    held = HeldCredentials(Chain(ReadOnlyCredentials("AKIASTATIC", "secret", None)), None, Clock())
    assert accepts(held, "", "anything") == [False, False]
    assert not held.knows_a_token()
    assert asyncio.run(held.signing("AKIASTATIC", None)) == ReadOnlyCredentials("AKIASTATIC", "secret", None)


def test_no_credential_source_at_all_leaves_the_static_token():
    class NoChain:
        async def credentials(self, fresh=False):
            raise RuntimeError("no credentials")

    held = HeldCredentials(NoChain(), "session", Clock())
    assert accepts(held, "session", "other") == [True, False]
