"""Hostile answers for ``HostileRelay``: each is a function of the request that yields the
bytes to send (head first), built once per test session where building is slow."""

from __future__ import annotations

import functools
import socket
import struct
import zlib
from collections.abc import Callable, Iterator

from check_mapi.wire.chunked import dechunk

from ..plugin.stall import XML_START, _Request

GIB = 1 << 30
PIECE = 1 << 16
# What a MAPI answer needs before its body ([MS-OXCMAPIHTTP] 2.2.7): then anything goes.
MAPI_PREFIX = b"PROCESSING\r\nDONE\r\nX-ElapsedTime: 1\r\nX-StartTime: now\r\n\r\n"


def head(request: _Request, status: str = "200 OK",
         headers: tuple[tuple[str, str], ...] = ()) -> bytes:
    """A response head fitting the request: XML for Autodiscover, MAPI/HTTP otherwise."""
    if request.is_autodiscover:
        fields = [("Content-Type", "text/xml; charset=utf-8")]
    else:
        fields = [("Content-Type", "application/mapi-http"), ("X-ResponseCode", "0")]
        fields += [(n, v) for n in ("X-RequestType", "X-RequestId")
                   if (v := request.header(n)) is not None]
    fields += [*headers, ("Connection", "close")]
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in fields)]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def prefix(request: _Request) -> bytes:
    return XML_START if request.is_autodiscover else MAPI_PREFIX


def _raw(data: bytes, final: bool = False) -> bytes:
    """``data`` as raw deflate blocks on their own (no history), byte-aligned at the end."""
    packer = zlib.compressobj(9, zlib.DEFLATED, -15)
    return packer.compress(data) + packer.flush(zlib.Z_FINISH if final else zlib.Z_FULL_FLUSH)


def _deflated(data_prefix: bytes, size: int, coding: str) -> bytes:
    """``data_prefix`` and then ``size`` zero bytes as ``gzip`` or ``deflate`` (zlib-
    wrapped, as RFC 9110 says). Built in a second, not a minute: the blocks of 16 MiB of
    zeros are compressed once and repeated (each starts without history)."""
    zeros = bytes(1 << 24)
    count = size // len(zeros)
    blocks = _raw(data_prefix) + _raw(zeros) * count + _raw(b"", final=True)
    if coding == "gzip":
        crc = zlib.crc32(data_prefix)
        for _ in range(count):
            crc = zlib.crc32(zeros, crc)
        total = (len(data_prefix) + count * len(zeros)) & 0xFFFFFFFF
        return (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff" + blocks
                + struct.pack("<II", crc, total))
    adler = zlib.adler32(data_prefix)
    for _ in range(count):
        adler = zlib.adler32(zeros, adler)
    return b"\x78\xda" + blocks + struct.pack(">I", adler)


@functools.cache
def bomb(coding: str, autodiscover: bool) -> bytes:
    """A body that inflates to a valid start and then 1 GiB of zeros: ``gzip``,
    ``deflate`` (zlib-wrapped, as RFC 9110 says), or ``gzip, gzip`` (gzip in gzip)."""
    start = XML_START if autodiscover else MAPI_PREFIX
    if coding in ("gzip", "deflate"):
        return _deflated(start, GIB, coding)
    if coding == "gzip, gzip":
        packer = zlib.compressobj(9, zlib.DEFLATED, 31)
        return packer.compress(bomb("gzip", autodiscover)) + packer.flush()
    raise ValueError(coding)


def bomb_answer(coding: str) -> Callable[[_Request], Iterator[bytes]]:
    def answer(request: _Request) -> Iterator[bytes]:
        body = bomb(coding, request.is_autodiscover)
        yield head(request, headers=(("Content-Encoding", coding),
                                     ("Content-Length", str(len(body)))))
        for at in range(0, len(body), PIECE):
            yield body[at:at + PIECE]
    return answer


def huge_answer(request: _Request) -> Iterator[bytes]:
    """A valid start and then 1 GiB, with a Content-Length that says so."""
    start = prefix(request)
    yield head(request, headers=(("Content-Length", str(len(start) + GIB)),))
    yield start
    zeros = bytes(PIECE)
    for _ in range(GIB // PIECE):
        yield zeros


def absurd_chunk_answer(request: _Request) -> Iterator[bytes]:
    """Chunked, and the first chunk is ``FFFFFFFFFFFFFFFF`` bytes long: then 1 GiB of it."""
    yield head(request, headers=(("Transfer-Encoding", "chunked"),))
    yield b"FFFFFFFFFFFFFFFF\r\n" + prefix(request)
    zeros = bytes(PIECE)
    for _ in range(GIB // PIECE):
        yield zeros


class Recoded:
    """The emulator's own answer, its body sent with ``coding`` (layers listed as applied:
    ``"gzip, deflate"`` is deflate of gzip). ``upstream`` is set by the rig."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self.upstream: tuple[str, int] | None = None

    def __call__(self, request: _Request) -> Iterator[bytes]:
        assert self.upstream is not None
        with socket.create_connection(self.upstream, timeout=10) as sock:
            sock.sendall(request.encode())
            answer = b""
            while data := sock.recv(65536):
                answer += data
        raw_head, body = answer.split(b"\r\n\r\n", 1)
        start, *fields = raw_head.decode("latin-1").split("\r\n")
        kept = [f for f in fields if f.split(":", 1)[0].strip().lower() not in (
            "transfer-encoding", "content-length", "connection")]
        if any(f.lower().startswith("transfer-encoding: chunked") for f in fields):
            body = dechunk(body).data
        for layer in (c.strip() for c in self.coding.split(",")):
            wbits = {"gzip": 31, "deflate": 15, "raw-deflate": -15}[layer]
            packer = zlib.compressobj(6, zlib.DEFLATED, wbits)
            body = packer.compress(body) + packer.flush()
        coding = self.coding.replace("raw-deflate", "deflate")
        lines = [start, *kept, f"Content-Encoding: {coding}", f"Content-Length: {len(body)}",
                 "Connection: close"]
        yield ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def refused_coding_answer(request: _Request) -> Iterator[bytes]:
    """A coding nobody asked for (brotli), whatever the body."""
    yield head(request, headers=(("Content-Encoding", "br"), ("Content-Length", "4")))
    yield b"\x0b\x01\x80\x00"
