#!/usr/bin/env python3
"""Reads one parameter and one secret per invoke with boto3 in the function, no cache: two AWS calls a time (or,
with AWS_ENDPOINT_URL_SSM / AWS_ENDPOINT_URL_SECRETS_MANAGER set to pscache, two calls to pscache's cache)."""

import os

import boto3

from runtime_loop import answer, serve

# Function init: the clients are made once per environment, as the AWS guidance says.
ssm = boto3.client("ssm")
secrets = boto3.client("secretsmanager")


def handler(event: dict) -> dict:
    parameter = ssm.get_parameter(Name=os.environ["BENCH_PARAMETER"])["Parameter"]["Value"]
    secret = secrets.get_secret_value(SecretId=os.environ["BENCH_SECRET"])["SecretString"]
    return answer(parameter, secret)


if __name__ == "__main__":
    serve(handler)
