"""Checks on ids and names, made before any I/O so that bad input writes nothing.

Each check raises an ``InvalidInputError`` subclass whose message names the
value and the rule it broke.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import ConfigurationError, InvalidIdError, InvalidNameError

__all__ = [
    "MAX_ID",
    "MAX_NAME_LENGTH",
    "IdArray",
    "check_id",
    "check_ids",
    "check_name",
    "check_prefix",
]

MAX_ID = 2**64 - 1
MAX_NAME_LENGTH = 256

# Braces decide hash slots in Redis Cluster, glob characters would turn key
# patterns into wildcards, and white space or control characters make keys
# that no one can type; ":" is allowed, as in "song:played".
_RESERVED = re.compile(r"[{}*?\[\]\\\s\x00-\x1f\x7f]")

IdArray = npt.NDArray[np.uint64]


def check_id(value: Any) -> int:
    """Return ``value`` as an int in [0, 2**64 - 1], or raise InvalidIdError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InvalidIdError(
            f"id {value!r} is a {type(value).__name__}: ids are integers from 0 "
            f"to 2**64 - 1; for str, bytes or UUID ids, enable the id map with "
            f"Bitmapist(..., id_map=True)"
        )
    number = int(value)
    if not 0 <= number <= MAX_ID:
        raise InvalidIdError(
            f"id {number} is out of range: ids run from 0 to 2**64 - 1"
        )
    return number


def check_ids(values: Iterable[Any]) -> IdArray:
    """Return many ids as a uint64 array, checking every one before any I/O."""
    if isinstance(values, np.ndarray):
        if values.dtype.kind == "u":
            return values.astype(np.uint64, copy=False).ravel()
        if values.dtype.kind == "i":
            flat = values.ravel()
            if flat.size and int(flat.min()) < 0:
                raise InvalidIdError(
                    f"id {int(flat.min())} is out of range: ids run from 0 to 2**64 - 1"
                )
            return flat.astype(np.uint64)
        if values.dtype.kind != "O":
            raise InvalidIdError(
                f"an array of dtype {values.dtype} cannot hold ids: "
                f"ids are integers from 0 to 2**64 - 1"
            )
    if isinstance(values, (str, bytes)):
        raise InvalidIdError(f"ids {values!r} must be an iterable of integers")
    checked = [check_id(value) for value in values]
    return np.array(checked, dtype=np.uint64)


def check_name(value: Any, what: str = "name") -> str:
    """Return ``value`` if it can name an event or attribute, else raise."""
    if not isinstance(value, str):
        raise InvalidNameError(
            f"{what} {value!r} is a {type(value).__name__}: names are strings"
        )
    if not value:
        raise InvalidNameError(f"{what} must not be empty")
    if len(value) > MAX_NAME_LENGTH:
        raise InvalidNameError(
            f"{what} {value[:40]!r}... has {len(value)} characters: "
            f"at most {MAX_NAME_LENGTH} are allowed"
        )
    reserved = _RESERVED.search(value)
    if reserved:
        raise InvalidNameError(
            f"{what} {value!r} contains {reserved.group()!r}: names may not contain "
            f"braces, glob characters (* ? [ ]), backslashes, white space or "
            f"control characters"
        )
    return value


def check_prefix(value: Any) -> str:
    """Return ``value`` if it can prefix every key, else raise."""
    try:
        return check_name(value, "key prefix")
    except InvalidNameError as error:
        raise ConfigurationError(str(error)) from None
