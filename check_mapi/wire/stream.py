"""The inner stream of a MAPI/HTTP response, parsed incrementally.

[MS-OXCMAPIHTTP] 2.2.7 (meta-tags), 3.1.5.6 and 3.2.5.2 (additional headers): after the
HTTP transfer coding is removed, the body is ``PROCESSING\\r\\n``, zero or more
``PENDING\\r\\n`` keep-alives, ``DONE\\r\\n``, additional headers (``X-ResponseCode``,
``X-ElapsedTime``, ``X-StartTime``) up to an empty line, then the binary response body.
The body never starts at byte 0.

Sans-IO: the transport feeds chunks as they arrive and gets events back, so it can time
PROCESSING and count PENDING keep-alives.
"""

from __future__ import annotations

import enum

from ..errors import DecodeError
from ..values import Value

MAX_LINE = 8192  # a meta-tag or header line longer than this is not MAPI/HTTP


class MetaTag(enum.Enum):
    """Meta-tags, [MS-OXCMAPIHTTP] 2.2.7."""

    PROCESSING = "PROCESSING"
    PENDING = "PENDING"
    DONE = "DONE"


class MetaTagEvent(Value):
    """A meta-tag line arrived; ``offset`` is where it started in the stream."""

    tag: MetaTag
    offset: int


class HeadersEvent(Value):
    """The additional headers after DONE are complete; the body follows."""

    headers: tuple[tuple[str, str], ...]


class ResponseStream(Value):
    """A whole inner stream, once the HTTP body has ended."""

    pending_count: int
    additional_headers: tuple[tuple[str, str], ...]
    response_code: int | None
    elapsed_time: int | None
    start_time: str | None
    body: bytes


class _State(enum.Enum):
    FIRST = "expecting PROCESSING"
    META = "expecting PENDING or DONE"
    HEADERS = "reading additional headers"
    BODY = "reading body"


class ResponseStreamParser:
    """Feed it the decoded HTTP body chunk by chunk; ``close()`` when the body ends.

    ``response_code`` is the X-ResponseCode of the HTTP header block, if any; an
    X-ResponseCode among the additional headers replaces it (the later one wins).
    """

    def __init__(self, response_code: int | None = None) -> None:
        self._buf = bytearray()
        self._consumed = 0  # stream offset of self._buf[0]
        self._state = _State.FIRST
        self._pending = 0
        self._headers: list[tuple[str, str]] = []
        self._response_code = response_code
        self._body = bytearray()

    def feed(self, data: bytes) -> list[MetaTagEvent | HeadersEvent]:
        """Consume ``data``; return the events it completed."""
        if self._in_body():
            self._body += data
            return []
        self._buf += data
        events: list[MetaTagEvent | HeadersEvent] = []
        while not self._in_body():
            line = self._next_line()
            if line is None:
                return events
            event = self._on_line(*line)
            if event is not None:
                events.append(event)
        self._body += self._buf
        self._buf.clear()
        return events

    def _in_body(self) -> bool:
        return self._state is _State.BODY

    def close(self) -> ResponseStream:
        """The HTTP body ended: return the stream, or DecodeError if it stopped early."""
        if not self._in_body():
            offset = self._consumed + len(self._buf)
            raise DecodeError(f"response stream ended while {self._state.value}", offset)
        elapsed = self._last_header("X-ElapsedTime")
        return ResponseStream(
            pending_count=self._pending,
            additional_headers=tuple(self._headers),
            response_code=self._response_code,
            elapsed_time=int(elapsed) if elapsed is not None else None,
            start_time=self._last_header("X-StartTime"),
            body=bytes(self._body),
        )

    def _next_line(self) -> tuple[bytes, int] | None:
        end = self._buf.find(b"\r\n")
        limit = len(self._buf) if end < 0 else end
        if limit > MAX_LINE:
            raise DecodeError(f"line longer than {MAX_LINE} bytes while {self._state.value}",
                              self._consumed)
        if end < 0:
            return None
        line, offset = bytes(self._buf[:end]), self._consumed
        del self._buf[: end + 2]
        self._consumed += end + 2
        return line, offset

    def _on_line(self, line: bytes, offset: int) -> MetaTagEvent | HeadersEvent | None:
        if self._state is _State.HEADERS:
            return self._on_header(line, offset)
        expected = (MetaTag.PROCESSING,) if self._state is _State.FIRST else (
            MetaTag.PENDING, MetaTag.DONE)
        tag = next((t for t in expected if line == t.value.encode()), None)
        if tag is None:
            wanted = " or ".join(t.value for t in expected)
            raise DecodeError(f"expected meta-tag {wanted}, got {_show(line)}", offset)
        if tag is MetaTag.PENDING:
            self._pending += 1
        self._state = {MetaTag.PROCESSING: _State.META, MetaTag.PENDING: _State.META,
                       MetaTag.DONE: _State.HEADERS}[tag]
        return MetaTagEvent(tag, offset)

    def _on_header(self, line: bytes, offset: int) -> HeadersEvent | None:
        if not line:
            self._state = _State.BODY
            return HeadersEvent(tuple(self._headers))
        name, sep, value = line.partition(b":")
        if not sep or not name or not name.isascii() or not value.isascii():
            raise DecodeError(f"malformed additional header {_show(line)}", offset)
        header = (name.decode().strip(), value.decode().strip())
        if header[0].lower() in ("x-responsecode", "x-elapsedtime") and not (
                header[1].isdigit() and header[1].isascii()):
            raise DecodeError(f"{header[0]} is not a number: {_show(value.strip())}", offset)
        if header[0].lower() == "x-responsecode":
            self._response_code = int(header[1])
        self._headers.append(header)
        return None

    def _last_header(self, name: str) -> str | None:
        values = [v for n, v in self._headers if n.lower() == name.lower()]
        return values[-1] if values else None


def _show(raw: bytes, limit: int = 40) -> str:
    """A short, printable rendering of untrusted bytes for an error message."""
    text = raw[:limit].decode("ascii", "backslashreplace")
    text = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)
    return f"'{text}{'...' if len(raw) > limit else ''}'"


def parse_response_stream(data: bytes, response_code: int | None = None) -> ResponseStream:
    """Parse a whole inner stream at once (the decoder command, tests)."""
    parser = ResponseStreamParser(response_code)
    parser.feed(data)
    return parser.close()
