"""What a server sends: CRITICAL naming the step and what was wrong, never "internal
error", and never a status line the server wrote (a line break or ``|`` of its text)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import httpx
import pytest

from ..conftest import Emulators
from ..loopback import Request
from .conftest import (
    SMTP,
    Server,
    cli,
    emulator_config,
    mailbox,
    mapi,
    passed_on,
    response,
)

NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
FAKE = "MAPI OK - fake | availability=1"
Raw = Callable[..., Server]
Relay = Callable[..., Server]


def pox(account: str = "", user: str = "<LegacyDN>/o=Contoso/cn=probe</LegacyDN>",
        declaration: str = "", error: str = "") -> bytes:
    inner = error or f"<User>{user}</User><Account>{account}</Account>"
    return (f'{declaration}<Autodiscover xmlns="{NS}"><Response>{inner}</Response>'
            "</Autodiscover>").encode()


def settings(url: str) -> str:
    return ('<Action>settings</Action><Protocol Type="mapiHttp" Version="1"><MailStore>'
            f"<ExternalUrl>{url}</ExternalUrl></MailStore></Protocol>")


def autodiscover(raw: Raw, body: bytes, content_type: str = "text/xml",
                 path: str = "/autodiscover/autodiscover.xml") -> tuple[int, str, str]:
    """The plugin against a server answering ``body``: exit code, status, whole output."""
    server = raw(lambda r: response(200, [("Content-Type", content_type)], body))
    outcome = cli("-m", SMTP, "--autodiscover-url", server.url + path, "--auth", "basic",
                  "-t", "5")
    assert "internal error" not in outcome.output and "Traceback" not in outcome.output
    return outcome.code, outcome.status, outcome.output


def critical(reason: str) -> str:
    return f"MAPI CRITICAL - {SMTP}: autodiscover failed: {reason}"


@pytest.mark.parametrize(("body", "reason"), [
    (pox(settings("https://contoso.com/mapi/"),
         declaration='<?xml version="1.0" encoding="x-nonexistent"?>'),
     "HTTP 200: malformed Autodiscover XML: unknown encoding declared"),
    (pox(settings("https://contoso.com/ma\x7fpi/")),
     "Autodiscover's ExternalUrl 'https://contoso.com/ma\\x7fpi/' is malformed (Invalid "
     "non-printable ASCII character in URL, '\\x7f' at position 22.)"),
    (pox(settings("https://contoso.com:99999/mapi/")),
     "Autodiscover's ExternalUrl 'https://contoso.com:99999/mapi/' is malformed (Port out "
     "of range 0-65535)"),
    (pox(settings("https://contoso.com/mapi/"), user="<LegacyDN>/o=Contöso/cn=probe</LegacyDN>"),
     "Autodiscover's LegacyDN '/o=Contöso/cn=probe' is unusable (not printable ASCII)"),
    (pox(settings("https://contoso.com/mapi/"), user="<LegacyDN>/o=C/cn=" + "x" * 70000
         + "</LegacyDN>"),
     "Autodiscover's LegacyDN '/o=C/cn=" + "x" * 52 + "...' is unusable (70008 characters "
     "long, at most 4096)"),
])
def test_an_unusable_autodiscover_answer_is_critical(raw: Raw, body: bytes,
                                                     reason: str) -> None:
    code, status, _ = autodiscover(raw, body)
    assert (code, status) == (2, critical(reason))


def test_deeply_nested_v2_json_is_critical(raw: Raw) -> None:
    body = b"[" * 100_000 + b"]" * 100_000
    code, status, _ = autodiscover(raw, body, "application/json",
                                   "/autodiscover/autodiscover.json")
    assert (code, status) == (2, critical(
        "HTTP 200: Autodiscover v2 answer is nested too deeply"))


def assert_not_forged(output: str) -> None:
    """One status line, no server-made line anywhere, no perfdata from the server."""
    lines = output.splitlines()
    assert not any(line.startswith("MAPI OK") for line in lines), output
    assert lines[0].count(" | ") == 1 and "availability=0;;;0;1" in lines[0]
    assert all("|" not in line for line in lines[1:]), output


@pytest.mark.parametrize(("body", "content_type", "path", "reason"), [
    (pox(error=f"<Error><ErrorCode>500\n{FAKE}</ErrorCode><Message>bad\r\n{FAKE}</Message>"
               "</Error>"), "text/xml", "xml",
     "Autodiscover error 500 MAPI OK - fake / availability=1: bad MAPI OK - fake / "
     "availability=1"),
    (pox("<Action>redirectAddr</Action><RedirectAddr>x@evil\nMAPI OK - fake|a=1.com"
         "</RedirectAddr>"), "text/xml", "xml",
     "Autodiscover redirectAddr from probe@contoso.com to x@evil MAPI OK - fake/a=1.com "
     "refused: evil mapi ok - fake/a=1.com is unrelated to contoso.com"),
    (json.dumps({"ErrorCode": f"Bad\n{FAKE}", "ErrorMessage": f"m\r\n{FAKE}"}).encode(),
     "application/json", "json",
     "HTTP 200: Autodiscover v2 error Bad MAPI OK - fake / availability=1: m MAPI OK - fake / "
     "availability=1"),
])
def test_autodiscover_text_cannot_forge_the_status_line(
        raw: Raw, body: bytes, content_type: str, path: str, reason: str) -> None:
    code, status, output = autodiscover(raw, body, content_type,
                                        f"/autodiscover/autodiscover.{path}")
    assert (code, status) == (2, critical(reason))
    assert_not_forged(output)


def test_autodiscover_text_cannot_forge_a_checkmk_line(raw: Raw) -> None:
    body = pox(error="<Error><ErrorCode>1</ErrorCode><Message>x\n0 \"MAPI fake\" - ok"
                     "</Message></Error>")
    server = raw(lambda r: response(200, [("Content-Type", "text/xml")], body))
    outcome = cli("-m", SMTP, "--autodiscover-url", f"{server.url}/autodiscover/"
                  "autodiscover.xml", "--auth", "basic", "-t", "5", "--output", "checkmk")
    assert outcome.output.count("\n") == 1, outcome.output
    assert outcome.first_line.startswith('2 "MAPI probe@contoso.com" ')


def test_a_wrong_server_name_cannot_forge_the_status_line(start: Emulators) -> None:
    fault = f'[[mailbox.fault]]\nstep = "logon"\nwrong_server = "srv\\n{FAKE}\\r\\nx"\n'
    emulator = start(emulator_config(mailbox(extra=fault)))
    outcome = mapi(emulator.url)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: logon failed: RopLogon: mailbox is "
                              "on another server (ecWrongServer): srv MAPI OK - fake / "
                              "availability=1 x")
    assert_not_forged(outcome.output)


def _logon_answer(request: Request, answer: httpx.Response, index: int) -> bytes | None:
    """The emulator's RopLogon answer with another OutputHandleIndex."""
    if request.headers.get("x-requesttype") != "Execute" or b"\xfe" not in answer.content:
        return None
    stream = answer.content
    start = stream.index(b"\r\n\r\n") + 4  # the body after the meta-tags and headers
    rop = start + 16 + 8 + 2  # Status/Error/Flags/RopBufferSize, RPC_HEADER_EXT, RopSize
    if stream[rop] != 0xFE:  # RopLogon
        return None
    return passed_on(answer, stream[:rop + 1] + bytes([index]) + stream[rop + 2:])


@pytest.mark.parametrize("index", [1, 5, 255])
def test_logon_handle_index_out_of_the_table_is_critical(
        start: Emulators, relay: Relay, index: int) -> None:
    emulator = start(emulator_config())
    server = relay(emulator.url, lambda r, a: _logon_answer(r, a, index))
    outcome = mapi(server.url)
    assert outcome.code == 2, outcome.output
    assert re.fullmatch(rf"MAPI CRITICAL - {SMTP}: logon failed: RopLogon: "
                        rf"OutputHandleIndex {index} names no handle in the server object "
                        r"handle table \(\d+ entries\)", outcome.status), outcome.status
    assert emulator.stats().open_sessions == 0  # Disconnect went out all the same
