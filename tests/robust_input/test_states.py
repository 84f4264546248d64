"""``--timeout-state`` changes the state, not the story: a timeout never claims a logon.
And a few server values that the transport and the session read (X-ResponseCode, a
Set-Cookie value): CRITICAL naming the step, never "internal error"."""

from __future__ import annotations

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

Relay = Callable[..., Server]
TIMED_OUT = "timed out: the check's time budget ran out"


@pytest.mark.parametrize("step", ["connect", "inbox"])
@pytest.mark.parametrize("state", [("ok", 0), ("warning", 1)])
def test_a_timeout_with_a_milder_state_still_says_it_timed_out(
        start: Emulators, step: str, state: tuple[str, int]) -> None:
    fault = f'[[mailbox.fault]]\nstep = "{step}"\npending_forever = true\n'
    emulator = start(emulator_config(mailbox(extra=fault)))
    outcome = mapi(emulator.url, "--timeout-state", state[0], "-t", "2")
    assert (outcome.code, outcome.status) == (
        state[1], f"MAPI {state[0].upper()} - {SMTP}: {step} failed: {TIMED_OUT}")
    assert "logged on" not in outcome.output and "None" not in outcome.output
    assert outcome.perfdata["availability"] == "0;;;0;1"


def test_an_autodiscover_timeout_with_state_ok(start: Emulators) -> None:
    fault = '[[mailbox.fault]]\nstep = "autodiscover"\nlatency_ms = 9000\n'
    emulator = start(emulator_config(mailbox(extra=fault)))
    outcome = cli("-m", SMTP, "--autodiscover-url", emulator.autodiscover_url, "--auth",
                  "basic", "--timeout-state", "ok", "-t", "2")
    assert (outcome.code, outcome.status) == (
        0, f"MAPI OK - {SMTP}: autodiscover failed: {TIMED_OUT}")
    assert outcome.perfdata["availability"] == "0;;;0;1"


def _on_connect(extra: bytes) -> Callable[[Request, httpx.Response], bytes | None]:
    def rewrite(request: Request, answer: httpx.Response) -> bytes | None:
        if request.headers.get("x-requesttype") != "Connect":
            return None
        answer.headers.pop("X-ResponseCode", None)
        return passed_on(answer, raw_headers=extra)
    return rewrite


@pytest.mark.parametrize("value", ["²".encode(), "٣".encode(), "²".encode("latin-1")])
def test_a_unicode_digit_x_response_code_is_critical(start: Emulators, relay: Relay,
                                                      value: bytes) -> None:
    emulator = start(emulator_config())
    server = relay(emulator.url, _on_connect(b"X-ResponseCode: " + value + b"\r\n"))
    outcome = mapi(server.url)
    assert "internal error" not in outcome.output
    assert outcome.code == 2
    assert outcome.status.startswith(f"MAPI CRITICAL - {SMTP}: connect failed: malformed "
                                     "X-ResponseCode"), outcome.status


def test_a_non_ascii_cookie_does_not_break_the_session(start: Emulators,
                                                       relay: Relay) -> None:
    emulator = start(emulator_config())
    server = relay(emulator.url, _on_connect("Set-Cookie: extra=vä; path=/\r\n".encode()))
    outcome = mapi(server.url)
    assert "internal error" not in outcome.output
    assert outcome.code == 0, outcome.output
    assert emulator.stats().open_sessions == 0


def test_an_error_page_echoing_the_session_cookies_does_not_show_them(
        start: Emulators, relay: Relay) -> None:
    """The session's cookies are its credentials while it lives: an error page (or a
    reason phrase) that echoes the request's Cookie header shows *** instead."""
    emulator = start(emulator_config())
    seen: list[str] = []

    def echo(request: Request, answer: httpx.Response) -> bytes | None:
        if request.headers.get("x-requesttype") != "Execute":
            return None
        cookie = request.headers.get("cookie", "")
        seen.append(cookie)
        return response(500, [("Content-Type", "text/html")],
                        f"<html><body>Cookie was: {cookie}</body></html>".encode(),
                        reason=f"Error {cookie}"[:200])

    server = relay(emulator.url, echo)
    outcome = mapi(server.url, "-vvv")
    assert outcome.code == 2
    assert outcome.status.startswith(f"MAPI CRITICAL - {SMTP}: logon failed: HTTP 500 ")
    values = [part.split("=", 1)[1] for part in seen[0].split("; ")]
    assert [v for v in values if len(v) >= 6]  # the session's cookies were echoed
    assert "Cookie was:" in outcome.output
    for value in values:
        assert len(value) < 6 or value not in outcome.output, outcome.output
