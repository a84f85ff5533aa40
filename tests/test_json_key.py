"""One member of a JSON secret (jsonKey= on GET /secretsmanager/get): the GetSecretValue body with SecretString
replaced by that member, from one cached copy of the whole secret; InvalidJsonKey otherwise; never logged."""

import json
import uuid
from urllib.parse import quote

import pytest

from conftest import SECRET_V2

SECRET = "/secretsmanager/get"
DOCUMENT = {
    "username": "admin",
    "password": "p<a>&ss-8c1e",
    "port": 5432,
    "ratio": 0.25,
    "enabled": True,
    "db": {"host": "db.internal", "tags": ["blue", "green"], "none": None},
    "a/b": "slash-member",
    "m~n": "tilde-member",
    "": "empty-name",
}


@pytest.fixture(scope="module")
def json_secret(aws):
    name = f"pscache/json-{uuid.uuid4().hex[:8]}"
    aws["sm"].create_secret(Name=name, SecretString=json.dumps(DOCUMENT))
    array = f"pscache/json-array-{uuid.uuid4().hex[:8]}"
    aws["sm"].create_secret(Name=array, SecretString='["x", "y"]')
    return name, array


def member(ext, secret_id, key, extra=""):
    return ext.get(f"{SECRET}?secretId={quote(secret_id, safe='')}&jsonKey={quote(key, safe='')}{extra}")


@pytest.mark.parametrize("key,expected", [
    ("username", "admin"),
    ("password", "p<a>&ss-8c1e"),
    ("port", "5432"),
    ("ratio", "0.25"),
    ("enabled", "true"),
    ("db", '{"host":"db.internal","tags":["blue","green"],"none":null}'),
    ("/db/host", "db.internal"),
    ("/db/tags", '["blue","green"]'),
    ("/db/tags/1", "green"),
    ("/db/none", "null"),
    ("a/b", "slash-member"),  # not a pointer: the member named as written
    ("/a~1b", "slash-member"),
    ("/m~0n", "tilde-member"),
    ("/", "empty-name"),  # RFC 6901: "/" is the member whose name is empty
])
def test_the_answer_is_the_secret_with_that_member_as_its_secret_string(shared_ext, json_secret, key, expected):
    name, _ = json_secret
    whole = shared_ext.get(f"{SECRET}?secretId={quote(name, safe='')}")
    r = member(shared_ext, name, key)
    assert r.status == 200, r
    body, full = r.json(), whole.json()
    assert body["SecretString"] == expected
    assert list(body) == list(full) and {k: v for k, v in body.items() if k != "SecretString"} == \
        {k: v for k, v in full.items() if k != "SecretString"}
    assert "\\u003c" in r.text or "<" not in expected  # the AWS extension's (Go's) escaping, as for whole secrets


def test_the_whole_secret_is_cached_once_and_each_member_taken_per_request(start_ext, proxy, json_secret):
    name, _ = json_secret
    ext = start_ext(PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL="debug")
    states = [member(ext, name, key).headers["x-pscache-cache"] for key in ("username", "password", "/db/host")]
    assert states == ["miss", "hit", "hit"]
    assert ext.get(f"{SECRET}?secretId={quote(name, safe='')}").headers["x-pscache-cache"] == "hit"
    assert proxy.count("GetSecretValue") == 1
    assert member(ext, name, "username", "&refreshNow=true").json()["SecretString"] == "admin"
    assert proxy.count("GetSecretValue") == 2
    assert member(ext, name, "nope").status == 400
    out = ext.output()
    assert "p<a>&ss-8c1e" not in out and "db.internal" not in out and "admin" not in out


@pytest.mark.parametrize("key,says", [
    ("nope", "no member at jsonKey='nope'"),
    ("/db/port", "no member at jsonKey='/db/port'"),
    ("/db/tags/2", "no member"),
    ("/db/tags/01", "no member"),  # RFC 6901: no leading zeros
    ("/db/tags/-", "no member"),
    ("/username/0", "no member"),  # a string has no members
    ("/db/x~2y", "not a valid JSON Pointer"),
    ("/db/x~", "not a valid JSON Pointer"),
])
def test_a_key_the_secret_does_not_have_is_invalid_json_key(shared_ext, json_secret, key, says):
    r = member(shared_ext, json_secret[0], key)
    assert r.status == 400 and r.error_code == "InvalidJsonKey" and says in r.error_message, r
    assert "admin" not in r.text and "db.internal" not in r.text


def test_only_a_json_object_secret_has_members(shared_ext, json_secret, aws):
    for secret_id, says in ((json_secret[1], "not one"), ("pscache/secret", "not one"),
                            ("pscache/binary", "has a SecretBinary")):
        r = member(shared_ext, secret_id, "x")
        assert r.status == 400 and r.error_code == "InvalidJsonKey" and says in r.error_message, r
        assert SECRET_V2 not in r.text


def test_a_malformed_pointer_is_refused_before_anything_is_fetched(start_ext, proxy):
    ext = start_ext()
    assert member(ext, "pscache/never-fetched", "/a~9").error_code == "InvalidJsonKey"
    assert proxy.count("GetSecretValue") == 0
    # A missing secret is its own error, whatever the key.
    assert member(ext, "pscache/not-there", "password").error_code == "ResourceNotFoundException"
