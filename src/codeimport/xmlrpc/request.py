"""Reading XML-RPC requests off the wire, and writing the answers.

`read_body` enforces the HTTP rules on request bodies (a length, a size
limit) by raising `HTTPError`; `parse_call` turns a body
into a method name and parameters, or raises `MalformedRequest`.
"""

from __future__ import annotations

import logging
import re
import socket
import xml.parsers.expat
import xmlrpc.client

from codeimport.wire import faults

__all__ = ["HTTPError", "dump_fault", "dump_result", "parse_call",
           "read_body"]

log = logging.getLogger("codeimport.xmlrpc")

# Characters XML 1.0 forbids even as references (tab, LF and CR are fine).
_CONTROL_CHARACTERS = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")


class HTTPError(Exception):
    """Answer with a plain-text HTTP error instead of XML-RPC."""

    def __init__(self, status: str, message: str, headers=()):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = list(headers)


def read_body(environ, limit: int) -> bytes:
    """Return the request body of at most `limit` bytes.

    The server in front (`codeimport.scripts.httpchannel`) has already
    received the whole body within its deadline, or answered 408.

    :raises HTTPError: 411 without a length (unless chunked), 400 for a
        bad length or a body cut short, 413 over `limit` (not read).
    """
    length = environ.get("CONTENT_LENGTH", "")
    chunked = "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower()
    if length:
        try:
            length = int(length)
        except ValueError:
            raise HTTPError("400 Bad Request",
                            "Bad Content-Length.") from None
        if length < 0:
            raise HTTPError("400 Bad Request", "Bad Content-Length.")
    elif not chunked:
        raise HTTPError("411 Length Required",
                        "A Content-Length is required.")
    else:
        length = None
    too_large = HTTPError("413 Content Too Large",
                          f"The limit is {limit} bytes.")
    if length is not None and length > limit:
        raise too_large
    body = _read(environ, limit + 1 if length is None else length)
    if length is None and len(body) > limit:
        raise too_large
    if length is not None and len(body) < length:
        raise HTTPError("400 Bad Request", "The body was cut short.")
    return body


def _read(environ, wanted: int) -> bytes:
    stream = environ["wsgi.input"]
    chunks, received = [], 0
    try:
        while received < wanted:
            chunk = stream.read(min(wanted - received, 1 << 16))
            if not chunk:
                break
            chunks.append(chunk)
            received += len(chunk)
    except (socket.timeout, TimeoutError):
        raise HTTPError("408 Request Timeout",
                        "The body arrived too slowly.") from None
    except Exception as error:
        log.info("unreadable request body: %s", error)
        raise HTTPError("400 Bad Request",
                        "The body could not be read.") from None
    return b"".join(chunks)


def parse_call(body: bytes) -> tuple[tuple, str]:
    """Return (params, method name) of an XML-RPC call document.

    Values are as `xmlrpc.client.loads` gives them with
    ``use_builtin_types=False`` (``Binary``, ``DateTime``).

    :raises MalformedRequest: for anything but a method call.
    """
    _check_document(body)
    try:
        try:
            params, name = xmlrpc.client.loads(body, use_builtin_types=False)
        except xml.parsers.expat.ExpatError:
            # xmlrpc.client sends control characters (a terminal escape in
            # a log tail ...) as they are, which XML forbids.  Rather than
            # refuse such a heartbeat, read them as U+FFFD.
            cleaned = _without_control_characters(body)
            if cleaned == body:
                raise
            params, name = xmlrpc.client.loads(cleaned,
                                               use_builtin_types=False)
    except Exception as error:
        message = str(error).strip() or type(error).__name__
        raise faults.MalformedRequest(message=message[:200]) from None
    if not isinstance(name, str) or not name:
        raise faults.MalformedRequest(message="no methodName")
    return params, name


class _PrologEnds(Exception):
    """The prolog has been read: a DTD was found, or the root element."""


def _check_document(body: bytes) -> None:
    """Refuse a document with a DTD, in whatever encoding it is written.

    Entity declarations live in a DTD; refusing DTDs refuses entity
    expansion and external entities outright.  A DTD can only come
    before the root element, so expat reads the prolog alone (in UTF-16,
    or an encoding the declaration names, as the real parse will) and
    stops at the first element: a few bytes for any real call.

    :raises MalformedRequest: (fault 910).
    """
    found = []

    def doctype(*args):
        found.append(True)
        raise _PrologEnds()

    def element(*args):
        raise _PrologEnds()

    parser = xml.parsers.expat.ParserCreate()
    parser.StartDoctypeDeclHandler = doctype
    parser.StartElementHandler = element
    try:
        for start in range(0, len(body), 4096):
            parser.Parse(body[start:start + 4096], False)
        parser.Parse(b"", True)
    except _PrologEnds:
        pass
    except (xml.parsers.expat.ExpatError, ValueError, LookupError):
        pass  # not XML: the real parse says why
    if found or b"<!DOCTYPE" in body:
        raise faults.MalformedRequest(message="DTDs are not allowed")


def _without_control_characters(body: bytes) -> bytes:
    # Only for ASCII-compatible encodings, where these bytes are always
    # characters of their own (never in UTF-16 or UTF-32).
    if (body[:2] in (b"\xff\xfe", b"\xfe\xff") or b"<\x00" in body[:64]
            or b"\x00<" in body[:64]):
        return body
    return _CONTROL_CHARACTERS.sub("\ufffd".encode(), body)


def dump_result(result) -> bytes:
    """The response document answering `result`."""
    return xmlrpc.client.dumps(
        (result,), methodresponse=True, encoding="utf-8").encode("utf-8")


def dump_fault(fault: xmlrpc.client.Fault) -> bytes:
    """The response document answering `fault`."""
    return xmlrpc.client.dumps(
        fault, methodresponse=True, encoding="utf-8").encode("utf-8")
