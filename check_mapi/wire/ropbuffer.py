"""rpc_header_ext and the ROP input/output buffer.

[MS-OXCRPC] 2.2.2.1 (RPC_HEADER_EXT: Version, Flags, Size, SizeActual), 3.1.4.1.1.3 (XorMagic:
every payload byte XOR 0xA5), 3.1.4.2.1 (segments follow each other until the one flagged
Last); [MS-OXCROPS] 2.2.1 (payload = RopSize u16 counting itself + RopsList, then the
ServerObjectHandleTable of u32 handles filling the rest).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from ..errors import DecodeError
from ..values import Value
from ._buffer import Reader, Writer
from .rop_requests import RopRequest, read_rop_request
from .rop_responses import RopContext, RopResponse, read_rop_response

RPC_HEADER_EXT_SIZE = 8
XOR_MAGIC = 0xA5
MAX_PAYLOAD = 0xFFFF

# int, not IntFlag: ~ on an IntFlag complements within the defined members only.
_DEFINED_FLAGS = 0x0007

Rop = TypeVar("Rop", bound="RopRequest | RopResponse", covariant=True)  # noqa: PLC0105


class RpcHeaderFlags(enum.IntFlag):
    """RPC_HEADER_EXT Flags, [MS-OXCRPC] 2.2.2.1."""

    Compressed = 0x0001
    XorMagic = 0x0002
    Last = 0x0004


class RopBuffer(Value, Generic[Rop]):
    """One segment: the ROPs and the server object handle table, and whether the payload
    was (or is to be) XOR-obfuscated on the wire."""

    rops: tuple[Rop, ...]
    server_object_handle_table: tuple[int, ...]
    xor_magic: bool = False


def _xor(payload: bytes) -> bytes:
    return bytes(b ^ XOR_MAGIC for b in payload)


def _read_segment_payloads(data: bytes, base: int) -> list[tuple[bytes, int, bool]]:
    """Split an extended buffer into (clear payload, payload offset, was XORed)."""
    r = Reader(data, "rpc_header_ext", base)
    segments: list[tuple[bytes, int, bool]] = []
    while True:
        at = r.offset
        version, flags = r.u16("Version"), r.u16("Flags")
        size, size_actual = r.u16("Size"), r.u16("SizeActual")
        if version != 0:
            raise r.error(f"Version is {version}, not 0", at)
        if flags & RpcHeaderFlags.Compressed:
            raise r.error("Flags has Compressed (0x0001) set: compressed payloads are not "
                          "supported (the request asked for NoCompression)", at + 2)
        if flags & ~_DEFINED_FLAGS:
            raise r.error(f"Flags 0x{flags:04X} has undefined bits", at + 2)
        if size != size_actual:
            raise r.error(f"SizeActual {size_actual} differs from Size {size} "
                          "in an uncompressed payload", at + 6)
        payload_at = r.offset
        payload = r.take(size, "payload")
        xored = bool(flags & RpcHeaderFlags.XorMagic)
        segments.append((_xor(payload) if xored else payload, payload_at, xored))
        if flags & RpcHeaderFlags.Last:
            r.expect_end()
            return segments
        if not r.remaining:
            raise r.error("no rpc_header_ext with the Last flag")


def _split_payload(payload: bytes, base: int) -> tuple[bytes, tuple[int, ...]]:
    """The RopsList bytes (at ``base + 2``) and the ServerObjectHandleTable of a payload."""
    head = Reader(payload, "ROP buffer", base)
    rop_size = head.u16("RopSize")
    if not 2 <= rop_size <= len(payload):
        raise head.error(f"RopSize {rop_size} outside 2..{len(payload)}", base)
    if (len(payload) - rop_size) % 4:
        raise head.error(f"{len(payload) - rop_size} bytes after RopsList are not a whole "
                         "ServerObjectHandleTable", base + rop_size)
    rops_list = head.take(rop_size - 2, "RopsList")
    return rops_list, tuple(head.u32("ServerObjectHandle") for _ in range(head.remaining // 4))


def _read_rops(payload: bytes, base: int, read_one: Callable[[Reader], Rop],
               xored: bool) -> RopBuffer[Rop]:
    rops_list, handles = _split_payload(payload, base)
    rops_reader = Reader(rops_list, "RopsList", base + 2)
    rops: list[Rop] = []
    while rops_reader.remaining:
        rops.append(read_one(rops_reader))
    return RopBuffer(tuple(rops), handles, xored)


class Undecoded(Value):
    """The rest of a RopsList from ``offset`` (absolute) that no ROP reader decoded, and why
    (a ROP's length is known only from its layout: nothing after it can be found)."""

    offset: int
    reason: str
    data: bytes


def read_rops_partial(rops_list: bytes, base: int, readers: Sequence[Callable[[Reader], Rop]]
                      ) -> tuple[tuple[Rop, ...], Undecoded | None]:
    """As many ROPs of ``rops_list`` (at ``base``) as decode, for people reading captures.

    Each ROP is tried from its first byte with ``readers`` in turn (the codec's, then e.g. a
    generic failure form); the first that none decodes ends the list, reported with the first
    reader's error.
    """
    rops: list[Rop] = []
    at = 0
    while at < len(rops_list):
        errors: list[DecodeError] = []
        for read_one in readers:
            r = Reader(rops_list[at:], "RopsList", base + at)
            try:
                rops.append(read_one(r))
            except DecodeError as err:
                errors.append(err)
                continue
            at = r.offset - base
            break
        else:
            return tuple(rops), Undecoded(base + at, str(errors[0]), rops_list[at:])
    return tuple(rops), None


def read_rop_buffers_partial(data: bytes, base: int, readers: Sequence[Callable[[Reader], Rop]]
                             ) -> tuple[tuple[RopBuffer[Rop], Undecoded | None], ...]:
    """:func:`read_rop_buffers` with :func:`read_rops_partial` for each segment's RopsList
    (the rpc_header_ext framing and RopSize must still decode)."""
    segments = []
    for payload, at, xored in _read_segment_payloads(data, base):
        rops_list, handles = _split_payload(payload, at)
        rops, rest = read_rops_partial(rops_list, at + 2, readers)
        segments.append((RopBuffer(rops, handles, xored), rest))
    return tuple(segments)


def read_rop_buffers(data: bytes, base: int, read_one: Callable[[Reader], Rop]
                     ) -> tuple[RopBuffer[Rop], ...]:
    return tuple(_read_rops(payload, at, read_one, xored)
                 for payload, at, xored in _read_segment_payloads(data, base))


def decode_request_rop_buffer(data: bytes, base: int = 0) -> tuple[RopBuffer[RopRequest], ...]:
    """The RopBuffer of an Execute request."""
    return read_rop_buffers(data, base, read_rop_request)


def decode_response_rop_buffer(data: bytes, ctx: RopContext, base: int = 0
                               ) -> tuple[RopBuffer[RopResponse], ...]:
    """The RopBuffer of an Execute response (empty when RopBufferSize is 0)."""
    if not data:
        return ()
    return read_rop_buffers(data, base, lambda r: read_rop_response(r, ctx))


def encode_rop_buffers(segments: Sequence[RopBuffer[Rop]],
                       write_one: Callable[[Writer, Rop], Writer]) -> bytes:
    """rpc_header_ext + payload for each segment, Last on the final one."""
    out = Writer()
    for n, segment in enumerate(segments):
        rops = Writer()
        for rop in segment.rops:
            write_one(rops, rop)
        rops_bytes = rops.getvalue()
        payload = Writer().u16(2 + len(rops_bytes)).raw(rops_bytes)
        for handle in segment.server_object_handle_table:
            payload.u32(handle)
        body = payload.getvalue()
        if len(body) > MAX_PAYLOAD:
            raise ValueError(f"ROP buffer payload of {len(body)} bytes exceeds {MAX_PAYLOAD}")
        flags = RpcHeaderFlags(0)
        if segment.xor_magic:
            flags |= RpcHeaderFlags.XorMagic
            body = _xor(body)
        if n == len(segments) - 1:
            flags |= RpcHeaderFlags.Last
        out.u16(0).u16(flags).u16(len(body)).u16(len(body)).raw(body)
    return out.getvalue()


def encode_request_rop_buffer(segments: Sequence[RopBuffer[RopRequest]]) -> bytes:
    return encode_rop_buffers(segments, lambda w, rop: rop.write(w))


def encode_response_rop_buffer(segments: Sequence[RopBuffer[RopResponse]],
                               ctx: RopContext | None = None) -> bytes:
    context = ctx or RopContext()
    return encode_rop_buffers(segments, lambda w, rop: rop.write(w, context))
