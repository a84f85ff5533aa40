"""One line per event on stdout, filtered by PARAMETERS_SECRETS_EXTENSION_LOG_LEVEL.

Plain writes instead of the logging module: cheaper to import on the cold-start
path, and nothing can attach a handler that prints request data.
"""

from __future__ import annotations

import sys
import time

# Control characters are escaped: names and upstream messages echo client input, and a raw newline in
# them would let a client forge log lines (or a NUL garble them).
_CONTROL = {c: f"\\x{c:02x}" for c in (*range(32), 127)}
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
    if not message.isprintable():
        message = message.translate(_CONTROL)
    stamp = time.strftime("%Y/%m/%d %H:%M:%S", time.gmtime())
    line = f"[pscache] {stamp} {level.upper()} {message}\n"
    # One write per line keeps lines whole when several threads log.
    try:
        sys.stdout.write(line)
    except UnicodeEncodeError:  # an ASCII stdout (PYTHONIOENCODING, LANG=C on old runtimes) and a non-ASCII name
        sys.stdout.write(line.encode("ascii", "backslashreplace").decode("ascii"))
    sys.stdout.flush()


def debug(message: str) -> None:
    _emit("debug", message)


def info(message: str) -> None:
    _emit("info", message)


def warn(message: str) -> None:
    _emit("warn", message)


def error(message: str) -> None:
    _emit("error", message)
