"""Query strings are read in order: version/label and repeated keys follow the AWS rules."""

import pytest

from app.errors import ApiError
from app.query import parse_parameter, parse_secret


def test_encoded_name_and_default_decryption():
    req = parse_parameter(b"name=%2Fa%2Fb%2Fc")
    assert (req.name, req.selector, req.with_decryption) == ("/a/b/c", "", False)


@pytest.mark.parametrize(
    "query,selector",
    [
        ("name=p&version=3&label=prod", ":3"),
        ("name=p&label=prod&version=3", ":prod"),
        ("label=prod&name=p", ":prod"),
        ("name=p&version=&label=prod", ":prod"),
    ],
)
def test_first_of_version_and_label_wins(query, selector):
    req = parse_parameter(query.encode())
    assert req.selector == selector and req.full_name == "p" + selector


def test_first_value_of_a_repeated_key_wins():
    assert parse_parameter(b"name=first&name=second").name == "first"
    assert parse_secret(b"secretId=a&secretId=b&versionStage=AWSPREVIOUS").secret_id == "a"


@pytest.mark.parametrize("raw,expected", [("true", True), ("TRUE", True), ("1", True), ("false", False), ("F", False), ("0", False)])
def test_with_decryption_spellings(raw, expected):
    assert parse_parameter(f"name=p&withDecryption={raw}".encode()).with_decryption is expected


def test_bad_with_decryption_is_a_400_naming_it():
    with pytest.raises(ApiError) as info:
        parse_parameter(b"name=p&withDecryption=maybe")
    assert info.value.status == 400 and "withDecryption" in info.value.message


@pytest.mark.parametrize("query", [b"", b"name=", b"version=1", b"Name=p"])
def test_missing_name_is_a_400_naming_it(query):
    with pytest.raises(ApiError) as info:
        parse_parameter(query)
    assert info.value.status == 400 and info.value.code == "MissingParameter" and "'name'" in info.value.message


def test_secret_selectors_and_missing_secret_id():
    req = parse_secret(b"secretId=arn%3Aaws%3Asecretsmanager%3Aus-east-1%3A1%3Asecret%3Ax&versionStage=AWSPREVIOUS")
    assert req.secret_id == "arn:aws:secretsmanager:us-east-1:1:secret:x" and req.version_stage == "AWSPREVIOUS"
    with pytest.raises(ApiError) as info:
        parse_secret(b"versionId=abc")
    assert "'secretId'" in info.value.message


def test_cache_keys_separate_every_selector():
    keys = {
        parse_parameter(b"name=p").cache_key,
        parse_parameter(b"name=p&withDecryption=true").cache_key,
        parse_parameter(b"name=p&version=1").cache_key,
        parse_parameter(b"name=p&label=1x").cache_key,
        parse_secret(b"secretId=p").cache_key,
        parse_secret(b"secretId=p&versionStage=AWSPREVIOUS").cache_key,
        parse_secret(b"secretId=p&versionId=v").cache_key,
    }
    assert len(keys) == 7


def test_invalid_utf8_is_a_400():
    with pytest.raises(ApiError) as info:
        parse_parameter(b"name=%ff%fe")
    assert info.value.status == 400
