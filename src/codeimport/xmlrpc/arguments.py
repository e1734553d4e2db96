"""Decoders for XML-RPC arguments: wire values in, checked Python values out.

Each decoder takes the value as `xmlrpc.client.loads` produced it (with
``use_builtin_types=False``) and the parameter's name, and returns the
value the utilities expect, or raises the `InvalidArguments` fault with a
message naming the parameter.  Values that the database would refuse
(integers wider than 32 bits, NUL characters, lone surrogates) are
refused here, so that bad input never reaches SQL.
"""

from __future__ import annotations

import reprlib
import xmlrpc.client
from datetime import datetime
from datetime import timezone

from codeimport.errors import CodeImportValidationError
from codeimport.validators import validate_hostname
from codeimport.wire.faults import InvalidArguments

__all__ = [
    "boolean",
    "enum_item",
    "hostname",
    "integer",
    "log_file",
    "name_list",
    "text",
    "timestamp",
]

_INT_MIN, _INT_MAX = -(2**31), 2**31 - 1
_DATETIME_FORMATS = ("%Y%m%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y%m%dT%H%M%S")


# Shows a bounded part of a wrong value, however large or deeply nested.
_SHORT = reprlib.Repr()
_SHORT.maxlevel = 2
_SHORT.maxstring = _SHORT.maxother = 60


def _refuse(name: str, expected: str, value) -> InvalidArguments:
    return InvalidArguments(
        message=f"{name} must be {expected}, not {_SHORT.repr(value)}")


def integer(value, name: str) -> int:
    """Return `value` if it is an XML-RPC ``int`` (32 bits)."""
    if (not isinstance(value, int) or isinstance(value, bool)
            or not _INT_MIN <= value <= _INT_MAX):
        raise _refuse(name, "a 32-bit integer", value)
    return value


def boolean(value, name: str) -> bool:
    """Return `value` if it is an XML-RPC ``boolean``."""
    if not isinstance(value, bool):
        raise _refuse(name, "a boolean", value)
    return value


def text(value, name: str, *, max_length: int | None = None,
         required: bool = False) -> str:
    """Return `value` if it is a string PostgreSQL can store.

    :param max_length: the longest string accepted, if any.
    :param required: refuse empty and all-blank strings.
    """
    if not isinstance(value, str):
        raise _refuse(name, "a string", value)
    if "\x00" in value:
        raise InvalidArguments(message=f"{name} must not contain NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArguments(
            message=f"{name} is not valid Unicode") from None
    if max_length is not None and len(value) > max_length:
        raise InvalidArguments(
            message=f"{name} is longer than {max_length} characters")
    if required and not value.strip():
        raise InvalidArguments(message=f"{name} must not be empty")
    return value


def hostname(value, name: str = "hostname") -> str:
    """Return `value` if it is a host name
    (`codeimport.validators.validate_hostname`)."""
    value = text(value, name)
    try:
        return validate_hostname(value)
    except CodeImportValidationError as error:
        raise InvalidArguments(message=str(error)) from None


def log_file(value, name: str) -> bytes | None:
    """Return the bytes of a ``Binary`` log; None for ``""`` or no data."""
    if isinstance(value, xmlrpc.client.Binary):
        return value.data or None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value) or None
    if value == "":
        return None
    raise _refuse(name, 'base64 data or ""', value)


def enum_item(value, name: str, enum, fault_class):
    """Return the item of `enum` called `value`.

    :raises fault_class: (built with ``name=value``) when `enum` has no
        such item.
    """
    value = text(value, name, max_length=100)
    try:
        return enum.items[value]
    except KeyError:
        raise fault_class(name=value) from None


def name_list(value, name: str) -> list[str]:
    """Return `value` if it is an array of strings."""
    if not isinstance(value, (list, tuple)):
        raise _refuse(name, "an array of strings", value)
    return [text(item, f"{name}[{index}]", max_length=100)
            for index, item in enumerate(value)]


def timestamp(value, name: str) -> datetime:
    """Return an aware UTC datetime.

    Accepts an XML-RPC ``dateTime.iso8601`` (a naive time, taken as UTC),
    a time tuple of 6 to 9 integers in UTC (``time.gmtime()``; only the
    first six count, as in the original), or a `datetime` from in-process
    callers (naive ones are taken as UTC).
    """
    if isinstance(value, xmlrpc.client.DateTime):
        for format in _DATETIME_FORMATS:
            try:
                value = datetime.strptime(value.value, format)
                break
            except ValueError:
                continue
        else:
            raise _refuse(name, "an ISO 8601 date and time", value.value)
    elif isinstance(value, (list, tuple)):
        if not 6 <= len(value) <= 9 or not all(
                isinstance(part, int) and not isinstance(part, bool)
                for part in value):
            raise _refuse(name, "a UTC time tuple of 6 to 9 integers", value)
        try:
            value = datetime(*value[:6])
        except (ValueError, OverflowError) as error:
            raise InvalidArguments(
                message=f"{name} is not a valid time: {error}") from None
    elif not isinstance(value, datetime):
        raise _refuse(name, "a dateTime.iso8601 or a UTC time tuple", value)
    if value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)
