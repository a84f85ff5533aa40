"""One line per event on stdout, filtered by PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL.

Plain writes instead of the logging module: cheaper to import on the cold-start
path, and nothing can attach a handler that prints request data.
"""

from __future__ import annotations

import sys
import time

_RANK = {"debug": 10, "info": 20, "warn": 30, "error": 40, "none": 100}
_threshold = _RANK["info"]


def set_level(level: str) -> None:
    global _threshold
    _threshold = _RANK[level]


def enabled(level: str) -> bool:
    return _RANK[level] >= _threshold


def _emit(level: str, message: str) -> None:
    if _RANK[level] < _threshold:
        return
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
    # One write per line keeps lines whole when several threads log.
    sys.stdout.write(f"[pscache] {stamp} {level.upper()} {message}\n")
    sys.stdout.flush()


def debug(message: str) -> None:
    _emit("debug", message)


def info(message: str) -> None:
    _emit("info", message)


def warn(message: str) -> None:
    _emit("warn", message)


def error(message: str) -> None:
    _emit("error", message)
