"""``python -m check_mapi.wire decode``: every MAPI vector, JSON output, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from check_mapi.wire.decoder import main

from .test_wire_bodies import execute_response_by_hand
from .test_wire_rops import logon_response_by_hand
from .wire_helpers import VECTORS, vector

KIND_OF = {
    "disconnect-request": "disconnect-request", "connect-request": "connect-request",
    "execute-": "execute-request", "ropqueryrows-response": "rop-response",
    "-response": "rop-response", "-request": "rop-request",
    "handle-table": "handle-table", "chunk-": "chunked",
}
ALL_VECTORS = sorted(p for p in VECTORS.rglob("*") if p.suffix in (".hex", ".bin"))


def kind_of(path: Path) -> str:
    return next(kind for key, kind in KIND_OF.items() if key in path.name)


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, object, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, json.loads(out) if code == 0 else out, err


@pytest.mark.parametrize("path", ALL_VECTORS, ids=[p.name for p in ALL_VECTORS])
def test_every_vector(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = [kind_of(path), str(path), "--columns", "0x66740014,0x66840102,0x6682001F"]
    code, out, err = run(capsys, "decode", *argv)
    if "PARTIAL" in path.name:  # the spec cut this dump short: decoded as far as it goes
        assert code == 0  # a partial decode is not a failure of the tool (issue 13)
        assert isinstance(out, list)
        assert out[-1]["not_decoded"]["offset"] == 0
        assert err.count("\n") == 1
        assert err.startswith("decode: not decoded from offset 0 (0x0): RopsList: ")
        return
    assert (code, err) == (0, "")
    assert out


def test_execute_request_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = VECTORS / "ruler/execute-release-openfolder-getcontentstable-request.hex"
    _, out, _ = run(capsys, "decode", "execute-request", str(path))
    assert out == {
        "flags": 3, "max_rop_out": 23041, "auxiliary_buffer": "",
        "rop_buffers": [{
            "rops": [
                {"rop": "RopRelease", "logon_id": 12, "input_handle_index": 1},
                {"rop": "RopOpenFolder", "logon_id": 12, "input_handle_index": 0,
                 "output_handle_index": 1, "folder_id": "0x0700000000000001",
                 "open_mode_flags": 0},
                {"rop": "RopGetContentsTable", "logon_id": 12, "input_handle_index": 1,
                 "output_handle_index": 2, "table_flags": 64}],
            "server_object_handle_table": [0x0C000000, 0xFFFFFFFF, 0xFFFFFFFF],
            "xor_magic": False}],
    }


def test_query_rows_json(capsys: pytest.CaptureFixture[str]) -> None:
    path = VECTORS / "spec/ms-oxorule-4.2.2-ropqueryrows-response.hex"
    _, out, _ = run(capsys, "decode", "rop-response", str(path),
                    "--columns", "0x66740014, 0x66840102,0x6682001F")
    assert out == [{"rop": "RopQueryRows", "input_handle_index": 1, "origin": 2, "rows": [
        {"flagged": False, "cells": [
            {"tag": "0x66740014", "type": "PtypInteger64", "value": 0x56F83F0100000001},
            {"tag": "0x66840102", "type": "PtypBinary",
             "value": "010000000100000055555555d144e340"},
            {"tag": "0x6682001F", "type": "PtypString", "value": "Project X"}]}]}]


def test_stream_with_body_and_cells(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = execute_response_by_hand()
    capture = tmp_path / "capture.bin"
    capture.write_bytes(b"PROCESSING\r\nDONE\r\nX-ResponseCode: 0\r\n\r\n" + rows)
    _, out, _ = run(capsys, "decode", "stream", str(capture), "--body", "execute-response",
                    "--columns", "0x0037001F,0x0E060040")
    assert isinstance(out, dict)
    assert out["response_code"] == 0
    assert out["body"] == rows.hex()
    decoded = out["decoded_body"]
    assert decoded["status_code"] == 0
    assert decoded["error_code"] == "Success (0x00000000)"
    assert decoded["rop_buffers"][0]["rops"][1]["rows"][0]["cells"] == [
        {"tag": "PidTagSubject (0x0037001F)", "type": "PtypString", "value": "Hi"},
        {"tag": "PidTagMessageDeliveryTime (0x0E060040)", "type": "PtypTime", "missing": True}]


def test_chunked_complete(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capture = tmp_path / "chunks.hex"
    raw = (vector("spec/ms-oxcmapihttp-4.2-chunk-processing.hex")
           + vector("spec/ms-oxcmapihttp-4.2-chunk-pending.hex")
           + b"8\r\nDONE\r\n\r\n\r\n" + b"c\r\n" + b"\x00" * 12 + b"\r\n" + b"0\r\n\r\n")
    capture.write_text("# a capture\n" + raw.hex(" ") + "\n")
    _, out, _ = run(capsys, "decode", "chunked", str(capture), "--body", "disconnect-response")
    assert isinstance(out, dict)
    assert out["complete"] is True
    assert out["stream"]["pending_count"] == 1
    assert out["stream"]["decoded_body"] == {"status_code": 0, "error_code": "Success (0x00000000)",
                                             "auxiliary_buffer": ""}


def test_rendering_of_times_errors_and_guids(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "logon.bin"
    path.write_bytes(logon_response_by_hand() + bytes([0x02, 0x01]) + (0x4B9).to_bytes(4, "little"))
    _, out, _ = run(capsys, "decode", "rop-response", str(path))
    assert isinstance(out, list)
    assert out[0]["mailbox_guid"] == "416c6368-656d-794a-6f45-57615272456e"
    assert out[0]["folder_ids"][4] == "0x0001000000000005"
    assert out[0]["logon_time"] == {"seconds": 5, "minutes": 4, "hour": 3, "day_of_week": 6,
                                    "day": 21, "month": 11, "year": 2026}
    assert out[1] == {"rop": "RopOpenFolder", "handle_index": 1,
                      "return_value": "ecNullObject (0x000004B9)"}
    row = (b"\x15\x01\x00\x00\x00\x00\x02\x01\x00"  # QueryRows, Origin END, 1 row
           + b"\x01"  # FlaggedPropertyRow
           + b"\x00" + (116444736000000000).to_bytes(8, "little")  # the Unix epoch
           + b"\x00\x0f\x01\x04\x80"  # a PtypErrorCode column value
           + b"\x00\x01\x00" + (50).to_bytes(8, "little")  # PtypMultipleTime, one value
           + b"\x00" + b"\xff" * 8  # beyond datetime: shown as the raw number
           + b"\xf9\x00" + b"\x00" * 4 + b"\x01" + b"\x02" + b"\x00" * 4 + b"\x00\x00")
    path.write_bytes(row)
    _, out, _ = run(capsys, "decode", "rop-response", str(path),
                    "--columns", "0x0E060040,0x0E08000A,0x00011040,0x00020040")
    assert isinstance(out, list)
    assert out[0]["rows"][0]["cells"] == [
        {"tag": "PidTagMessageDeliveryTime (0x0E060040)", "type": "PtypTime",
         "value": "1970-01-01T00:00:00Z"},
        {"tag": "0x0E08000A", "type": "PtypErrorCode", "value": "ecNotFound (0x8004010F)"},
        {"tag": "0x00011040", "type": "PtypMultipleTime", "value": ["1601-01-01T00:00:00.000005Z"]},
        {"tag": "0x00020040", "type": "PtypTime", "value": 0xFFFFFFFFFFFFFFFF}]
    assert out[1] == {"rop": "RopBackoff", "logon_id": 0, "duration": 0,
                      "backoff_rops": [{"rop_id_backoff": "RopOpenFolder (0x02)", "duration": 0}],
                      "additional_data": ""}


def test_decode_error_is_one_line_exit_1(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "cut.bin"
    path.write_bytes(vector("ruler/execute-logon-request.bin")[:40])
    code, out, err = run(capsys, "decode", "execute-request", str(path))
    assert (code, out) == (1, "")
    assert err == ("decode: Execute request: truncated RopBuffer: need 157 bytes, 32 left "
                   "at offset 8 (0x8)\n")


@pytest.mark.parametrize(("content", "name", "reason"), [
    (None, "missing.bin", "No such file"),
    (b"zz", "bad.hex", "non-hexadecimal"),
    (b"\xff", "bad.hex", "can't decode"),
])
def test_unreadable_input_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                 content: bytes | None, name: str, reason: str) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    code, out, err = run(capsys, "decode", "connect-request", str(path))
    assert (code, out) == (2, "")
    assert err.startswith(f"decode: cannot read {path}: ")
    assert reason in err


@pytest.mark.parametrize("columns", ["0x1,zz", "0x100000000"])
def test_bad_columns_are_usage_errors(capsys: pytest.CaptureFixture[str], columns: str) -> None:
    with pytest.raises(SystemExit) as info:
        main(["decode", "rop-response", "-", "--columns", columns])
    assert info.value.code == 2
    assert "property tag" in capsys.readouterr().err


def test_handle_table_must_be_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "h.bin"
    path.write_bytes(b"\x01\x02\x03")
    code, _, err = run(capsys, "decode", "handle-table", str(path))
    assert code == 1
    assert "not a whole number of 4-byte handles" in err


def test_module_entry_point_reads_stdin() -> None:
    data = vector("ruler/disconnect-request.bin")
    proc = subprocess.run([sys.executable, "-m", "check_mapi.wire", "decode",
                           "disconnect-request", "-"], input=data, capture_output=True,
                          timeout=30, check=False)
    assert (proc.returncode, proc.stderr) == (0, b"")
    assert json.loads(proc.stdout) == {"auxiliary_buffer": ""}
    proc = subprocess.run([sys.executable, "-m", "check_mapi.wire", "decode",
                           "connect-response", "-"], input=b"\x00\x00", capture_output=True,
                          timeout=30, check=False)
    assert proc.returncode == 1
    assert proc.stdout == b""
    assert proc.stderr.decode().count("\n") == 1
    assert b"Traceback" not in proc.stderr
