"""Request and response bodies of the mailbox (EMSMDB) endpoint.

[MS-OXCMAPIHTTP] 2.2.4.1 Connect, 2.2.4.2 Execute, 2.2.4.3 Disconnect. A response whose
StatusCode is not 0 has the short failure form: StatusCode, AuxiliaryBufferSize,
AuxiliaryBuffer (2.2.4.1.2, 2.2.4.2.2, 2.2.4.3.2). The auxiliary buffers are kept as raw
bytes: they are informational and the probe neither sends nor needs them.
"""

from __future__ import annotations

from typing import ClassVar

from ..values import Value
from ._buffer import Reader, Writer
from .rop_requests import RopRequest
from .rop_responses import RopContext, RopResponse
from .ropbuffer import (
    RopBuffer,
    decode_request_rop_buffer,
    decode_response_rop_buffer,
    encode_request_rop_buffer,
    encode_response_rop_buffer,
)

EXECUTE_FLAG_NO_COMPRESSION = 0x00000001
EXECUTE_FLAG_NO_XOR_MAGIC = 0x00000002
EXECUTE_FLAG_CHAIN = 0x00000004
MAX_ROP_OUT = 0x40000  # [MS-OXCRPC] 3.1.4.2: cbIn / pcbOut limit without ULTRA_LARGE buffers


def _aux(r: Reader) -> bytes:
    return r.counted_bytes32("AuxiliaryBuffer")


def _end(w: Writer, aux: bytes) -> bytes:
    return w.u32(len(aux)).raw(aux).getvalue()


class FailureResponse(Value):
    """StatusCode != 0: the server could not process the request at all."""

    status_code: int
    auxiliary_buffer: bytes = b""

    def encode(self) -> bytes:
        return _end(Writer().u32(self.status_code), self.auxiliary_buffer)


def _maybe_failure(r: Reader) -> FailureResponse | None:
    status = r.u32("StatusCode")
    if status == 0:
        return None
    failure = FailureResponse(status, _aux(r))
    r.expect_end()
    return failure


class ConnectRequest(Value):
    """[MS-OXCMAPIHTTP] 2.2.4.1.1 (fields of EcDoConnectEx, [MS-OXCRPC] 3.1.4.1)."""

    user_dn: str
    flags: int = 0
    default_code_page: int = 1252
    lcid_sort: int = 0x0409
    lcid_string: int = 0x0409
    auxiliary_buffer: bytes = b""

    def encode(self) -> bytes:
        w = Writer().asciiz(self.user_dn).u32(self.flags).u32(self.default_code_page)
        return _end(w.u32(self.lcid_sort).u32(self.lcid_string), self.auxiliary_buffer)

    @classmethod
    def decode(cls, data: bytes) -> ConnectRequest:
        r = Reader(data, "Connect request")
        value = cls(r.asciiz("UserDn"), r.u32("Flags"), r.u32("DefaultCodePage"),
                    r.u32("LcidSort"), r.u32("LcidString"), _aux(r))
        r.expect_end()
        return value


class ConnectResponse(Value):
    """[MS-OXCMAPIHTTP] 2.2.4.1.2, StatusCode 0. A non-zero ErrorCode (the EcDoConnectEx
    result, e.g. ecLoginFailure) still comes in this form."""

    error_code: int
    polls_max: int
    retry_count: int
    retry_delay: int
    dn_prefix: str
    display_name: str
    auxiliary_buffer: bytes = b""
    status_code: ClassVar[int] = 0

    def encode(self) -> bytes:
        w = Writer().u32(0).u32(self.error_code).u32(self.polls_max).u32(self.retry_count)
        w.u32(self.retry_delay).asciiz(self.dn_prefix).utf16z(self.display_name)
        return _end(w, self.auxiliary_buffer)

    @classmethod
    def decode(cls, data: bytes) -> ConnectResponse | FailureResponse:
        r = Reader(data, "Connect response")
        failure = _maybe_failure(r)
        if failure is not None:
            return failure
        value = cls(r.u32("ErrorCode"), r.u32("PollsMax"), r.u32("RetryCount"),
                    r.u32("RetryDelay"), r.asciiz("DnPrefix"), r.utf16z("DisplayName"), _aux(r))
        r.expect_end()
        return value


class ExecuteRequest(Value):
    """[MS-OXCMAPIHTTP] 2.2.4.2.1 (EcDoRpcExt2, [MS-OXCRPC] 3.1.4.2)."""

    rop_buffers: tuple[RopBuffer[RopRequest], ...]
    flags: int = EXECUTE_FLAG_NO_COMPRESSION | EXECUTE_FLAG_NO_XOR_MAGIC
    max_rop_out: int = 0x10008
    auxiliary_buffer: bytes = b""

    def encode(self) -> bytes:
        rop_buffer = encode_request_rop_buffer(self.rop_buffers)
        w = Writer().u32(self.flags).u32(len(rop_buffer)).raw(rop_buffer)
        return _end(w.u32(self.max_rop_out), self.auxiliary_buffer)

    @classmethod
    def decode(cls, data: bytes) -> ExecuteRequest:
        r = Reader(data, "Execute request")
        flags = r.u32("Flags")
        size = r.u32("RopBufferSize")
        at = r.offset
        buffers = decode_request_rop_buffer(r.take(size, "RopBuffer"), at)
        value = cls(buffers, flags, r.u32("MaxRopOut"), _aux(r))
        r.expect_end()
        return value


class ExecuteResponse(Value):
    """[MS-OXCMAPIHTTP] 2.2.4.2.2, StatusCode 0. With a non-zero ErrorCode (e.g. ecRpcFormat)
    RopBufferSize is 0 and there are no ROP buffers."""

    error_code: int
    rop_buffers: tuple[RopBuffer[RopResponse], ...]
    flags: int = 0
    auxiliary_buffer: bytes = b""
    status_code: ClassVar[int] = 0

    def encode(self, ctx: RopContext | None = None) -> bytes:
        rop_buffer = encode_response_rop_buffer(self.rop_buffers, ctx)
        w = Writer().u32(0).u32(self.error_code).u32(self.flags).u32(len(rop_buffer))
        return _end(w.raw(rop_buffer), self.auxiliary_buffer)

    @property
    def rops(self) -> tuple[RopResponse, ...]:
        """The ROP responses of every segment, in order."""
        return tuple(rop for buffer in self.rop_buffers for rop in buffer.rops)

    @classmethod
    def decode(cls, data: bytes, ctx: RopContext | None = None
               ) -> ExecuteResponse | FailureResponse:
        r = Reader(data, "Execute response")
        failure = _maybe_failure(r)
        if failure is not None:
            return failure
        error_code, flags, size = r.u32("ErrorCode"), r.u32("Flags"), r.u32("RopBufferSize")
        at = r.offset
        buffers = decode_response_rop_buffer(r.take(size, "RopBuffer"), ctx or RopContext(), at)
        value = cls(error_code, buffers, flags, _aux(r))
        r.expect_end()
        return value


class DisconnectRequest(Value):
    """[MS-OXCMAPIHTTP] 2.2.4.3.1: AuxiliaryBufferSize (0) and AuxiliaryBuffer."""

    auxiliary_buffer: bytes = b""

    def encode(self) -> bytes:
        return _end(Writer(), self.auxiliary_buffer)

    @classmethod
    def decode(cls, data: bytes) -> DisconnectRequest:
        r = Reader(data, "Disconnect request")
        value = cls(_aux(r))
        r.expect_end()
        return value


class DisconnectResponse(Value):
    """[MS-OXCMAPIHTTP] 2.2.4.3.2, StatusCode 0."""

    error_code: int = 0
    auxiliary_buffer: bytes = b""
    status_code: ClassVar[int] = 0

    def encode(self) -> bytes:
        return _end(Writer().u32(0).u32(self.error_code), self.auxiliary_buffer)

    @classmethod
    def decode(cls, data: bytes) -> DisconnectResponse | FailureResponse:
        r = Reader(data, "Disconnect response")
        failure = _maybe_failure(r)
        if failure is not None:
            return failure
        value = cls(r.u32("ErrorCode"), _aux(r))
        r.expect_end()
        return value
