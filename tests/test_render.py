"""Response bodies byte-for-byte in the AWS extension's shape (contract.md §3)."""

import json
from datetime import datetime, timedelta, timezone

from app.render import parameter_body, rfc3339, secret_body


def test_parameter_fixture_from_the_contract():
    parameter = {
        "Name": "/lambda-ext-test-param/dummy-string",
        "Type": "String",
        "Value": "my-string-param-value",
        "Version": 1,
        "LastModifiedDate": datetime(2022, 11, 16, 8, 22, 40, 362000, tzinfo=timezone.utc),
        "ARN": "arn:aws:ssm:us-east-1:123456789012:parameter/lambda-ext-test-param/dummy-string",
        "DataType": "text",
        "Tier": "Standard",  # not in the Go struct: must not appear
    }
    expected = (
        '{"Parameter":{"ARN":"arn:aws:ssm:us-east-1:123456789012:parameter/lambda-ext-test-param/dummy-string",'
        '"DataType":"text","LastModifiedDate":"2022-11-16T08:22:40.362Z","Name":"/lambda-ext-test-param/dummy-string",'
        '"Selector":null,"SourceResult":null,"Type":"String","Value":"my-string-param-value","Version":1},'
        '"ResultMetadata":{}}'
    )
    assert parameter_body(parameter).decode() == expected


def test_secret_fixture_from_the_contract():
    output = {
        "ARN": "arn:aws:secretsmanager:us-east-1:123456789012:secret:dummy-string-secret-MFUBmH",
        "Name": "dummy-string-secret",
        "VersionId": "b1c367b9",
        "SecretString": "an-insecure-string-secret-value",
        "VersionStages": ["AWSCURRENT"],
        "CreatedDate": datetime(2022, 11, 16, 8, 22, 40, 499000, tzinfo=timezone.utc),
        "ResponseMetadata": {"RequestId": "x"},
    }
    expected = (
        '{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:dummy-string-secret-MFUBmH",'
        '"CreatedDate":"2022-11-16T08:22:40.499Z","Name":"dummy-string-secret","SecretBinary":null,'
        '"SecretString":"an-insecure-string-secret-value","VersionId":"b1c367b9","VersionStages":["AWSCURRENT"],'
        '"ResultMetadata":{}}'
    )
    assert secret_body(output).decode() == expected


def test_binary_secret_is_standard_base64_with_padding():
    body = json.loads(secret_body({"SecretBinary": b"\x00\xff\x10ab"}))
    assert body["SecretBinary"] == "AP8QYWI=" and body["SecretString"] is None


def test_timestamps_follow_go_rfc3339nano():
    utc = timezone.utc
    assert rfc3339(datetime(2022, 1, 2, 3, 4, 5, 360000, tzinfo=utc)) == "2022-01-02T03:04:05.36Z"
    assert rfc3339(datetime(2022, 1, 2, 3, 4, 5, tzinfo=utc)) == "2022-01-02T03:04:05Z"
    assert rfc3339(datetime(2022, 1, 2, 3, 4, 5, 123456, tzinfo=utc)) == "2022-01-02T03:04:05.123456Z"
    # Converted to UTC whatever zone the SDK parsed into.
    plus2 = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2022, 1, 2, 5, 4, 5, tzinfo=plus2)) == "2022-01-02T03:04:05Z"


def test_strings_are_escaped_like_go():
    body = parameter_body({"Value": "<a&b> ü \u2028"}).decode()
    assert '"Value":"\\u003ca\\u0026b\\u003e ü \\u2028"' in body
    assert json.loads(body)["Parameter"]["Value"] == "<a&b> ü \u2028"
