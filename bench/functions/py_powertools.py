#!/usr/bin/env python3
"""Reads one parameter and one secret per invoke through Powertools Parameters, whose in-process cache keeps
them for max_age seconds (300, as pscache's default TTL)."""

import os

from aws_lambda_powertools.utilities import parameters

from runtime_loop import answer, serve

MAX_AGE = 300


def handler(event: dict) -> dict:
    parameter = parameters.get_parameter(os.environ["BENCH_PARAMETER"], max_age=MAX_AGE)
    secret = parameters.get_secret(os.environ["BENCH_SECRET"], max_age=MAX_AGE)
    return answer(parameter, secret)


if __name__ == "__main__":
    serve(handler)
