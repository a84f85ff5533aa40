"""What the service models allow in the input of the five cached reads, checked as AWS checks it.

AWS checks every request against its model (required members, lengths, value ranges, patterns, enums) and answers
what fails with ValidationException, one clause per failure:

    1 validation error detected: Value '[a, b, ...]' at 'names' failed to satisfy constraint: Member must have
    length less than or equal to 10

A read pscache answers from its cache never reaches AWS, so pscache checks it the same way: code that works
against pscache must not break against AWS. The limits come from botocore's model of the operation (the data its
clients are made from), so they are AWS's own: GetParameters at most 10 names, BatchGetSecretValue at most 20
ids, names and ids at most 2048 characters, a VersionId of 32 to 64, MaxResults 1 to 10 (by path) or 1 to 20
(batch), ... Members of the wrong JSON type are left to the wire front's own checks.
"""

from __future__ import annotations

import re

from app.wire_codec import WireError


def validate(shape, document: dict) -> None:
    """Raise AWS's ValidationException if document breaks a constraint of the input shape (a botocore Shape)."""
    failures: list[str] = []
    _structure(shape, document, "", failures)
    if failures:
        count = len(failures)
        raise WireError(400, "ValidationException", f"{count} validation error{'' if count == 1 else 's'} "
                        f"detected: {'; '.join(failures)}")


def _at(path: str, member: str) -> str:
    name = member[:1].lower() + member[1:]  # AWS names members in lowerCamelCase: 'names', 'secretIdList'
    return f"{path}.{name}" if path else name


def _shown(shape, value) -> str:
    if shape.metadata.get("sensitive"):
        return "Value"  # AWS never echoes a sensitive member
    if isinstance(value, list):
        return f"Value '[{', '.join(str(v) for v in value)}]'"
    return f"Value '{value}'"


def _structure(shape, value, path: str, failures: list[str]) -> None:
    if not isinstance(value, dict):
        return
    required = shape.metadata.get("required", ())
    for member, member_shape in shape.members.items():
        where = _at(path, member)
        if value.get(member) is None:
            if member in required:
                failures.append(f"Value null at '{where}' failed to satisfy constraint: Member must not be null")
            continue
        _check(member_shape, value[member], where, failures)


def _check(shape, value, where: str, failures: list[str]) -> None:
    kind = shape.type_name
    meta = shape.metadata
    broken = []
    if kind == "structure":
        _structure(shape, value, where, failures)
        return
    if kind == "list" and isinstance(value, list):
        broken += _bounds(len(value), meta, "length")
    elif kind == "string" and isinstance(value, str):
        broken += _bounds(len(value), meta, "length")
        if "pattern" in meta and not _matches(meta["pattern"], value):
            broken.append(f"Member must satisfy regular expression pattern: {meta['pattern']}")
        if shape.enum and value not in shape.enum:
            broken.append(f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
    elif kind in ("integer", "long") and isinstance(value, int) and not isinstance(value, bool):
        broken += _bounds(value, meta, "value")
    else:
        return  # a wrong JSON type: the wire front answers it as a SerializationException or its own check
    failures += [f"{_shown(shape, value)} at '{where}' failed to satisfy constraint: {b}" for b in broken]
    if kind == "list":
        for index, item in enumerate(value, 1):
            _check(shape.member, item, f"{where}.{index}.member", failures)


def _bounds(size: int, meta: dict, what: str) -> list[str]:
    if "min" in meta and size < meta["min"]:
        return [f"Member must have {what} greater than or equal to {meta['min']}"]
    if "max" in meta and size > meta["max"]:
        return [f"Member must have {what} less than or equal to {meta['max']}"]
    return []


_PATTERNS: dict[str, re.Pattern | None] = {}


def _matches(pattern: str, value: str) -> bool:
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = re.compile(pattern)
        except re.error:  # a construct Java has and Python lacks: AWS checks it, pscache cannot
            _PATTERNS[pattern] = None
    compiled = _PATTERNS[pattern]
    return compiled is None or compiled.fullmatch(value) is not None  # AWS matches the whole value
