"""ROP responses the emulator encodes itself, outside the codec's value types.

QueryRowsAnswer carries rows already encoded (encoding every row again for every request
made a 100 000-item Inbox slow); UnknownRopFailure is the 6-byte failure form for a RopId
the codec has no name for (rops.py's docstring says when it is sent).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from ..wire import RopContext, RopId, Writer


@dataclass(frozen=True, slots=True)
class QueryRowsAnswer:
    """RopQueryRowsResponse ([MS-OXCROPS] 2.2.5.4.2) with rows already encoded: a row is
    encoded once per folder, column set and code page and its bytes reused (store.Contents).
    """

    rop_id: ClassVar[RopId] = RopId.RopQueryRows
    input_handle_index: int
    origin: int
    rows: tuple[bytes, ...]

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        w.u8(self.rop_id).u8(self.input_handle_index).u32(0).u8(self.origin)
        w.u16(len(self.rows))
        for encoded in self.rows:
            w.raw(encoded)
        return w


@dataclass(frozen=True, slots=True)
class UnknownRopFailure:
    """The 6-byte failure form for a RopId the codec has no name (RopId member) for."""

    rop_id: int
    handle_index: int
    return_value: int

    def write(self, w: Writer, ctx: RopContext) -> Writer:
        return w.u8(self.rop_id).u8(self.handle_index).u32(self.return_value)
