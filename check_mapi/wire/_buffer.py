"""Little-endian cursor over bytes: the only place that packs and unpacks integers.

Every read checks its length first, so ``struct.error`` and ``IndexError`` cannot
escape; every failure is a :class:`DecodeError` carrying the absolute offset. Every write
that the format cannot carry (a number out of its field's range, text outside the field's
code page) is an :class:`EncodeError`, never ``struct.error`` or ``UnicodeEncodeError``.
"""

from __future__ import annotations

import codecs
import struct
import uuid

from ..errors import DecodeError, EncodeError

_U8 = struct.Struct("<B")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
_F32 = struct.Struct("<f")
_F64 = struct.Struct("<d")

# Code pages whose Python codec is not simply "cp<N>" ([MS-OXCDATA] 2.11.1: PtypString8
# is in the code page of the logon, i.e. Connect DefaultCodePage).
_CODE_PAGE_CODECS = {
    65001: "utf-8",
    20127: "ascii",
    28591: "latin-1",
    20932: "euc-jp",
    51932: "euc-jp",
    51949: "euc-kr",
    936: "gbk",
    54936: "gb18030",
    50220: "iso2022-jp",
}


def code_page_codec(code_page: int, offset: int = 0) -> str:
    """Python codec name for a Windows code page, or DecodeError."""
    name = _CODE_PAGE_CODECS.get(code_page, f"cp{code_page}")
    try:
        return codecs.lookup(name).name
    except LookupError as err:
        raise DecodeError(f"unsupported code page {code_page}", offset) from err


class Reader:
    """Reads from ``data``; ``base`` is added to positions in error messages."""

    __slots__ = ("_base", "_data", "_pos", "_what")

    def __init__(self, data: bytes, what: str, base: int = 0) -> None:
        self._data = bytes(data)
        self._pos = 0
        self._base = base
        self._what = what

    @property
    def offset(self) -> int:
        """Absolute offset of the next byte."""
        return self._base + self._pos

    @property
    def remaining(self) -> int:
        return len(self._data) - self._pos

    def error(self, message: str, at: int | None = None) -> DecodeError:
        """A DecodeError about this structure, at the current offset unless told."""
        return DecodeError(f"{self._what}: {message}", self.offset if at is None else at)

    def take(self, n: int, field: str) -> bytes:
        if n > self.remaining:
            raise self.error(f"truncated {field}: need {n} bytes, {self.remaining} left")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def rest(self) -> bytes:
        return self.take(self.remaining, "rest")

    def u8(self, field: str) -> int:
        return int(_U8.unpack(self.take(1, field))[0])

    def u16(self, field: str) -> int:
        return int(_U16.unpack(self.take(2, field))[0])

    def u32(self, field: str) -> int:
        return int(_U32.unpack(self.take(4, field))[0])

    def u64(self, field: str) -> int:
        return int(_U64.unpack(self.take(8, field))[0])

    def f32(self, field: str) -> float:
        return float(_F32.unpack(self.take(4, field))[0])

    def f64(self, field: str) -> float:
        return float(_F64.unpack(self.take(8, field))[0])

    def guid(self, field: str) -> uuid.UUID:
        """A GUID in its Windows byte order ([MS-DTYP] 2.3.4.2)."""
        return uuid.UUID(bytes_le=self.take(16, field))

    def asciiz(self, field: str, encoding: str = "ascii") -> str:
        """8-bit string up to and including its 0x00 terminator."""
        start = self._pos
        end = self._data.find(b"\x00", start)
        if end < 0:
            raise self.error(f"{field} has no 0x00 terminator")
        raw = self._data[start:end]
        self._pos = end + 1
        return self._decode_text(raw, encoding, field, start)

    def utf16z(self, field: str) -> str:
        """UTF-16LE string up to its 00 00 terminator, scanned on 2-byte boundaries."""
        start = self._pos
        end = start
        while True:
            if end + 2 > len(self._data):
                raise self.error(f"{field} has no 00 00 terminator")
            if self._data[end : end + 2] == b"\x00\x00":
                break
            end += 2
        self._pos = end + 2
        return self._decode_text(self._data[start:end], "utf-16-le", field, start)

    def counted_bytes16(self, field: str) -> bytes:
        """u16 byte count followed by that many bytes ([MS-OXCDATA] 2.11.1 PtypBinary)."""
        return self.take(self.u16(f"{field} count"), field)

    def counted_bytes32(self, field: str) -> bytes:
        """u32 byte count followed by that many bytes (MAPI/HTTP body buffers)."""
        return self.take(self.u32(f"{field}Size"), field)

    def expect_end(self) -> None:
        if self.remaining:
            raise self.error(f"{self.remaining} unexpected trailing bytes")

    def _decode_text(self, raw: bytes, encoding: str, field: str, start: int) -> str:
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError as err:
            at = self._base + start + err.start
            raise self.error(f"{field} is not valid {encoding}", at) from err


class Writer:
    """Accumulates little-endian fields; the encoder twin of :class:`Reader`."""

    __slots__ = ("_parts",)

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def raw(self, data: bytes) -> Writer:
        self._parts.append(bytes(data))
        return self

    def u8(self, value: int) -> Writer:
        return self._pack(_U8, value)

    def u16(self, value: int) -> Writer:
        return self._pack(_U16, value)

    def u32(self, value: int) -> Writer:
        return self._pack(_U32, value)

    def u64(self, value: int) -> Writer:
        return self._pack(_U64, value)

    def f32(self, value: float) -> Writer:
        return self._pack(_F32, value)

    def f64(self, value: float) -> Writer:
        return self._pack(_F64, value)

    def _pack(self, packer: struct.Struct, value: float) -> Writer:
        try:
            return self.raw(packer.pack(value))
        except struct.error as err:
            raise EncodeError(f"{value!r} does not fit a {packer.size * 8}-bit field"
                              ) from err

    def guid(self, value: uuid.UUID) -> Writer:
        return self.raw(value.bytes_le)

    def asciiz(self, value: str, encoding: str = "ascii") -> Writer:
        return self.raw(encoded(value, encoding) + b"\x00")

    def utf16z(self, value: str) -> Writer:
        return self.raw(encoded(value, "utf-16-le") + b"\x00\x00")

    def counted_bytes16(self, value: bytes) -> Writer:
        return self.u16(len(value)).raw(value)

    def getvalue(self) -> bytes:
        return b"".join(self._parts)


def encoded(value: str, encoding: str) -> bytes:
    """``value`` in ``encoding``, or EncodeError naming the first character it lacks."""
    try:
        return value.encode(encoding)
    except UnicodeEncodeError as err:
        raise EncodeError(f"{value[err.start:err.end]!r} at character {err.start} cannot "
                          f"be sent in {encoding}") from err
