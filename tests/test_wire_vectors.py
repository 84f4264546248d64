"""Bytes we did not write: Microsoft's spec examples and ruler's requests.

Each expectation below is taken from the vector's own comments or its README, not from
our encoder. Re-encoding a decoded request must give back the same bytes.
"""

from __future__ import annotations

import uuid

import pytest

from check_mapi.errors import DecodeError
from check_mapi.wire import (
    ConnectRequest,
    DisconnectRequest,
    ExecuteRequest,
    PropertyError,
    PropertyRow,
    PropertyValue,
    RopBuffer,
    RopContext,
    RopGetContentsTableRequest,
    RopLogonRequest,
    RopOpenFolderRequest,
    RopQueryRowsRequest,
    RopQueryRowsResponse,
    RopReleaseRequest,
    RopRequest,
    RopSetColumnsRequest,
    RopSetColumnsResponse,
    RopSortTableResponse,
)
from check_mapi.wire._buffer import Reader, Writer
from check_mapi.wire.chunked import dechunk
from check_mapi.wire.props import read_row
from check_mapi.wire.rop_requests import (
    RopGetNamesFromPropertyIdsRequest,
    RopGetPropertiesListRequest,
    RopGetRulesTableRequest,
    RopOpenMessageRequest,
    read_rop_request,
)
from check_mapi.wire.rop_responses import (
    RopGetHierarchyTableResponse,
    RopGetRulesTableResponse,
    read_rop_response,
)
from check_mapi.wire.stream import MetaTag, ResponseStreamParser

from .wire_helpers import assert_every_prefix_fails, assert_trailing_junk_fails, vector

RULER_DN = ("/o=First Organization/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)"
            "/cn=Recipients/cn=0123456789abcdef0123456789abcdef-probe")
RULER_HANDLE = 0x0C000000  # ruler's hard-coded logon handle (vectors/ruler/README.md)
INBOX_FID = int.from_bytes(bytes.fromhex("0100000000000005"), "little")
FID_7 = int.from_bytes(bytes.fromhex("0100000000000007"), "little")
MID = int.from_bytes(bytes.fromhex("2301000000000100"), "little")


def one_rop(data: bytes, ctx: RopContext | None = None, response: bool = False) -> object:
    r = Reader(data, "test")
    rop = read_rop_response(r, ctx or RopContext()) if response else read_rop_request(r)
    r.expect_end()
    return rop


# --- ruler: whole request bodies --------------------------------------------------------

def test_ruler_connect_request() -> None:
    data = vector("ruler/connect-request.bin")
    assert len(data) == 149
    req = ConnectRequest.decode(data)
    assert req == ConnectRequest(user_dn=RULER_DN, flags=0, default_code_page=1252,
                                 lcid_sort=0x409, lcid_string=0x409, auxiliary_buffer=b"")
    assert req.encode() == data
    assert_every_prefix_fails(ConnectRequest.decode, data)
    assert_trailing_junk_fails(ConnectRequest.decode, data)


def test_ruler_disconnect_request() -> None:
    data = vector("ruler/disconnect-request.bin")
    assert DisconnectRequest.decode(data) == DisconnectRequest(b"")
    assert DisconnectRequest().encode() == data
    assert_every_prefix_fails(DisconnectRequest.decode, data)
    assert_trailing_junk_fails(DisconnectRequest.decode, data)


RULER_EXECUTES: list[tuple[str, int, tuple[object, ...], tuple[int, ...]]] = [
    ("execute-logon-request", 173,
     (RopLogonRequest(logon_id=0x0C, output_handle_index=0, logon_flags=0x01,
                      open_flags=0x0100000C, store_state=0, essdn=RULER_DN),),
     (0xFFFFFFFF,)),
    ("execute-openfolder-inbox-request", 47,
     (RopOpenFolderRequest(0x0C, 0, 1, INBOX_FID, 0x00),),
     (RULER_HANDLE, 0xFFFFFFFF)),
    ("execute-release-openfolder-getcontentstable-request", 59,
     (RopReleaseRequest(0x0C, 1),
      RopOpenFolderRequest(0x0C, 0, 1, FID_7, 0x00),
      RopGetContentsTableRequest(0x0C, 1, 2, 0x40)),
     (RULER_HANDLE, 0xFFFFFFFF, 0xFFFFFFFF)),
    ("execute-setcolumns-queryrows-release-request", 70,
     (RopSetColumnsRequest(0x0C, 3, 0x00, (0x0037001F, 0x674A0014, 0x80C7001E)),
      RopQueryRowsRequest(0x0C, 3, 0x00, 0x01, 1),
      RopReleaseRequest(0x0C, 3)),
     (0x0C000001, 0x0C000000, 0x00000102, 0x00000103)),
    ("execute-openmessage-getpropertieslist-request", 60,
     (RopOpenMessageRequest(0x0C, 0, 1, 0x0FFF, FID_7, 0x03, MID),
      RopGetPropertiesListRequest(0x0C, 1)),
     (RULER_HANDLE, 0xFFFFFFFF)),
    ("execute-openmessage-getnamesfrompropertyids-request", 62,
     (RopOpenMessageRequest(0x0C, 0, 1, 0x0FFF, FID_7, 0x03, MID),
      RopGetNamesFromPropertyIdsRequest(0x0C, 1, ())),
     (RULER_HANDLE, 0xFFFFFFFF)),
]


@pytest.mark.parametrize(("name", "length", "rops", "handles"), RULER_EXECUTES,
                         ids=[row[0] for row in RULER_EXECUTES])
def test_ruler_execute_requests(name: str, length: int, rops: tuple[object, ...],
                                handles: tuple[int, ...]) -> None:
    data = vector(f"ruler/{name}.bin")
    assert len(data) == length
    assert vector(f"ruler/{name}.hex") == data
    req = ExecuteRequest.decode(data)
    # Flags NoCompression|NoXorMagic, MaxRopOut 0x5A01, no auxiliary buffer (ruler README).
    assert req == ExecuteRequest(rop_buffers=(RopBuffer(rops, handles),),  # type: ignore[arg-type]
                                 flags=0x3, max_rop_out=0x5A01, auxiliary_buffer=b"")
    assert req.encode() == data
    assert_every_prefix_fails(ExecuteRequest.decode, data)
    assert_trailing_junk_fails(ExecuteRequest.decode, data)


def test_ruler_logon_layout_by_hand() -> None:
    """mapi-http.md 3.7: the worked layout of ruler's Execute carrying RopLogon."""
    data = vector("ruler/execute-logon-request.bin")
    assert data[0:4] == bytes.fromhex("03000000")       # Flags
    assert data[4:8] == (157).to_bytes(4, "little")     # RopBufferSize
    assert data[8:16] == bytes.fromhex("0000 0400 9500 9500")  # rpc_header_ext: Last, 149
    assert data[16:18] == (145).to_bytes(2, "little")   # RopSize counts itself
    assert data[-8:] == bytes.fromhex("015a0000 00000000")  # MaxRopOut, AuxiliaryBufferSize
    rebuilt = ExecuteRequest((RopBuffer((RopLogonRequest(0x0C, 0, 1, 0x0100000C, 0, RULER_DN),),
                                        (0xFFFFFFFF,)),), max_rop_out=0x5A01)
    assert rebuilt.encode() == data


# --- Microsoft's spec examples: single ROPs -------------------------------------------

SPEC_REQUESTS = [
    ("ms-oxctabl-4.1.1-ropgetcontentstable-request.hex",
     RopGetContentsTableRequest(0, 0, 1, 0x00)),
    ("ms-oxorule-4.2.1-ropgetrulestable-request.hex", RopGetRulesTableRequest(0, 0, 1, 0x40)),
    ("ms-oxorule-4.2.1-ropqueryrows-request.hex", RopQueryRowsRequest(0, 1, 0x00, 0x01, 50)),
    ("ms-oxorule-4.2.1-ropsetcolumns-request.hex",
     RopSetColumnsRequest(0, 1, 0, (0x66740014, 0x66840102, 0x6682001F))),
    ("ms-oxctabl-4.2.1-ropsetcolumns-request.hex",
     RopSetColumnsRequest(0, 1, 0, (0x67480014, 0x674A0014, 0x674D0014, 0x674E0003,
                                    0x0037001F, 0x0E060040))),
]


@pytest.mark.parametrize(("name", "expected"), SPEC_REQUESTS, ids=[r[0] for r in SPEC_REQUESTS])
def test_spec_rop_requests(name: str, expected: object) -> None:
    data = vector(f"spec/{name}")
    assert one_rop(data) == expected
    assert expected.write(Writer()).getvalue() == data  # type: ignore[attr-defined]
    assert_every_prefix_fails(one_rop, data)


QUERY_ROWS_COLUMNS = (0x66740014, 0x66840102, 0x6682001F)
SPEC_RESPONSES = [
    ("ms-oxcfold-4.7.2-ropgethierarchytable-response.hex", RopGetHierarchyTableResponse(2, 21)),
    ("ms-oxctabl-4.3.2-ropsorttable-response.hex", RopSortTableResponse(1, 0x00)),
    ("ms-oxorule-4.2.2-ropgetrulestable-response.hex", RopGetRulesTableResponse(1)),
    ("ms-oxorule-4.2.2-ropsetcolumns-response.hex", RopSetColumnsResponse(1, 0x00)),
    ("ms-oxorule-4.2.2-ropqueryrows-response.hex",
     RopQueryRowsResponse(1, 0x02, (PropertyRow(False, (
         PropertyValue(0x66740014, 0x56F83F0100000001),
         PropertyValue(0x66840102, bytes.fromhex("010000000100000055555555d144e340")),
         PropertyValue(0x6682001F, "Project X"))),))),
]


@pytest.mark.parametrize(("name", "expected"), SPEC_RESPONSES, ids=[r[0] for r in SPEC_RESPONSES])
def test_spec_rop_responses(name: str, expected: object) -> None:
    data = vector(f"spec/{name}")
    ctx = RopContext(columns=QUERY_ROWS_COLUMNS)
    assert one_rop(data, ctx, response=True) == expected
    assert expected.write(Writer(), ctx).getvalue() == data  # type: ignore[attr-defined]
    assert_every_prefix_fails(lambda d: one_rop(d, ctx, response=True), data)


def test_spec_query_rows_needs_columns() -> None:
    data = vector("spec/ms-oxorule-4.2.2-ropqueryrows-response.hex")
    with pytest.raises(DecodeError, match="without the table's columns") as info:
        one_rop(data, RopContext(columns=None), response=True)
    assert info.value.offset == 9  # the first row starts after Origin and RowCount


def test_spec_flagged_rows_partial() -> None:
    """MS-OXCTABL 4.5.3.2 (truncated by the spec): header and the first flagged values."""
    data = vector("spec/ms-oxctabl-4.5.3.2-ropqueryrows-response.PARTIAL.hex")
    assert data[:9] == bytes.fromhex("15 00 00000000 02 0900")  # RopId, index, RV, Origin END, 9
    r = Reader(data[9:], "row", 9)
    row = read_row(r, (0x67480014, 0x674A0014, 0x674D0014), 1252)
    assert row.flagged
    assert row.cells[0] == PropertyValue(0x67480014, 0x321FF10000000001)
    assert row.cells[1] == PropertyError(0x674A0014, 0x8004010F)  # NotFound
    assert row.cells[2] == PropertyValue(0x674D0014, int.from_bytes(data[0x19:0x21], "little"))
    # The whole response cannot decode: nine rows were promised, 64 bytes given.
    with pytest.raises(DecodeError):
        one_rop(data, RopContext(columns=(0x67480014,) * 6), response=True)


def test_spec_handle_table() -> None:
    data = vector("spec/ms-oxorule-4.2.1-server-object-handle-table.hex")
    rops = b"".join(vector(f"spec/{n}") for n in (
        "ms-oxorule-4.2.1-ropgetrulestable-request.hex",
        "ms-oxorule-4.2.1-ropsetcolumns-request.hex",
        "ms-oxorule-4.2.1-ropqueryrows-request.hex"))
    payload = (2 + len(rops)).to_bytes(2, "little") + rops + data
    body = (bytes.fromhex("03000000") + (8 + len(payload)).to_bytes(4, "little")
            + bytes.fromhex("0000 0400") + len(payload).to_bytes(2, "little") * 2 + payload
            + bytes.fromhex("08800100 00000000"))
    req = ExecuteRequest.decode(body)
    assert req.rop_buffers[0].server_object_handle_table == (0x00000223, 0xFFFFFFFF)
    assert [type(r).__name__ for r in req.rop_buffers[0].rops] == [
        "RopGetRulesTableRequest", "RopSetColumnsRequest", "RopQueryRowsRequest"]
    assert req.encode() == body


def test_spec_execute_buffer_sizes() -> None:
    """MS-OXCRPC 4.2: 320 bytes of ROPs and 4 handles -> RopSize 0x142, Size 0x152, cbIn 0x15A."""
    rops: tuple[RopRequest, ...] = (
        *(RopQueryRowsRequest(0, 1, 0, 1, 1) for _ in range(44)),  # 44 x 7 bytes
        *(RopReleaseRequest(0, 1) for _ in range(4)))              # + 4 x 3 bytes = 320
    assert sum(len(r.write(Writer()).getvalue()) for r in rops) == 320
    body = ExecuteRequest((RopBuffer(rops, (0, 1, 2, 3)),), max_rop_out=0x18008).encode()
    cb_in = int.from_bytes(body[4:8], "little")
    assert cb_in == 0x15A
    rop_buffer = body[8 : 8 + cb_in]
    assert rop_buffer[:8] == bytes.fromhex("0000 0400 5201 5201")  # Last, Size = SizeActual
    assert rop_buffer[8:10] == bytes.fromhex("4201")  # RopSize
    assert body[8 + cb_in : 12 + cb_in] == bytes.fromhex("08800100")  # pcbOut 0x18008


def test_spec_chunks_frame_the_inner_stream() -> None:
    """MS-OXCMAPIHTTP 4.2: `C\\r\\nPROCESSING\\r\\n\\r\\n` then `9\\r\\nPENDING\\r\\n\\r\\n`."""
    processing = vector("spec/ms-oxcmapihttp-4.2-chunk-processing.hex")
    pending = vector("spec/ms-oxcmapihttp-4.2-chunk-pending.hex")
    chunked = dechunk(processing + pending)
    assert chunked.chunks == (b"PROCESSING\r\n", b"PENDING\r\n")
    assert not chunked.complete
    parser = ResponseStreamParser()
    events = [e for chunk in chunked.chunks for e in parser.feed(chunk)]
    assert [e.tag for e in events] == [MetaTag.PROCESSING, MetaTag.PENDING]  # type: ignore[union-attr]
    assert [e.offset for e in events] == [0, 12]  # type: ignore[union-attr]


def test_guid_byte_order() -> None:
    """GUIDs travel in Windows (little-endian first three fields) order, [MS-DTYP] 2.3.4.2."""
    guid = uuid.UUID("416c6368-656d-794a-6f45-57615272456e")
    assert Writer().guid(guid).getvalue() == bytes.fromhex("68636c416d654a79 6f4557615272456e")
