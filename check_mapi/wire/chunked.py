"""HTTP/1.1 chunked transfer coding ([RFC 9112] 7.1), for reading raw captures.

The transport leaves de-chunking to httpx; this exists so that the decoder command can
read a response body captured on the wire, as [MS-OXCMAPIHTTP] 4.2 prints it.
"""

from __future__ import annotations

from ..errors import DecodeError
from ..values import Value

_MAX_SIZE_LINE = 1024


class Chunked(Value):
    """The chunk payloads in order; ``complete`` when the last-chunk (size 0) was seen."""

    chunks: tuple[bytes, ...]
    complete: bool

    @property
    def data(self) -> bytes:
        return b"".join(self.chunks)


def dechunk(data: bytes) -> Chunked:
    """Split chunked coding; a capture may stop after any whole chunk."""
    chunks: list[bytes] = []
    pos = 0
    while pos < len(data):
        end = data.find(b"\r\n", pos, pos + _MAX_SIZE_LINE)
        if end < 0:
            raise DecodeError("chunk-size line without CRLF", pos)
        size_text = data[pos:end].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as err:
            raise DecodeError(f"chunk size {size_text!r} is not hexadecimal", pos) from err
        if size_text.startswith((b"+", b"-")) or b"_" in size_text:
            raise DecodeError(f"chunk size {size_text!r} is not hexadecimal", pos)
        start = end + 2
        if size == 0:
            if data[start:] not in (b"\r\n", b""):
                raise DecodeError("data after the last chunk", start)
            return Chunked(tuple(chunks), complete=True)
        if data[start + size : start + size + 2] != b"\r\n":
            raise DecodeError(f"chunk of {size} bytes is truncated or lacks its CRLF", start)
        chunks.append(data[start : start + size])
        pos = start + size + 2
    return Chunked(tuple(chunks), complete=False)
