"""What the user gives: a bad value is UNKNOWN with a reason naming the option (never an
"internal error"), a secret is never echoed, and stray whitespace around a secret does not
stop a check that would otherwise work."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from ..conftest import Emulators
from .conftest import LEGACY_DN, MAPI_PATH, PASSWORD, SMTP, cli, emulator_config, mailbox, mapi

TOKEN = "s3ntinel.R0bust-token_value"
OK = "MAPI OK - probe@contoso.com logged on in "
UNREACHABLE = "http://127.0.0.1:9/mapi/emsmdb/"  # never asked: the options fail first


def unknown(*argv: str, env: dict[str, str] | None = None,
            monkeypatch: pytest.MonkeyPatch | None = None) -> str:
    """The first line of a run that must stop at the options (UNKNOWN, one line)."""
    for key, value in (env or {}).items():
        assert monkeypatch is not None
        monkeypatch.setenv(key, value)
    outcome = cli("-m", SMTP, "--url", UNREACHABLE, "--legacy-dn", LEGACY_DN, *argv)
    assert outcome.code == 3, outcome.output
    assert outcome.output.count("\n") == 1, outcome.output
    return outcome.first_line


@pytest.mark.parametrize("spec", ["@", ":", "@:", " @ "])
def test_a_range_without_a_bound_is_refused(spec: str) -> None:
    assert unknown("-w", spec) == (
        f"MAPI UNKNOWN - -w/--warning: invalid range {spec!r} (expected [@][start:][end], "
        "e.g. 10, 5:, ~:10, @1:2)")


@pytest.mark.parametrize(("address", "shown"), [
    ("pro\nbe@contoso.com", "'pro\\nbe@contoso.com'"),
    ("probe@contoso.com\r\nMAPI OK - fake", "'probe@contoso.com\\r\\nMAPI OK - fake'"),
    ("probe@contoso.com\x85", "'probe@contoso.com\\x85'"),
    ("probe@contoso.com\u2028x", "'probe@contoso.com\\u2028x'"),
    ("\tprobe@contoso.com", "'\\tprobe@contoso.com'"),
])
def test_a_mailbox_with_a_control_character_is_refused(address: str, shown: str) -> None:
    outcome = cli("-m", address, "--url", UNREACHABLE, "--legacy-dn", LEGACY_DN)
    assert (outcome.code, outcome.output) == (
        3, f"MAPI UNKNOWN - -m/--mailbox {shown} contains a control character\n")


def test_a_control_character_in_a_mailbox_file_is_refused(tmp_path: Path) -> None:
    listing = tmp_path / "mailboxes"
    listing.write_bytes(b"probe@contoso.com\nother\x0b@contoso.com\n")
    outcome = cli("--mailbox-file", str(listing), "--url", UNREACHABLE,
                  "--legacy-dn", LEGACY_DN)
    assert outcome.code == 3
    assert "contains a control character" in outcome.first_line
    assert outcome.output.count("\n") == 1


@pytest.mark.parametrize(("option", "value", "reason"), [
    ("--client-application", "Outlook/16.0 äöü",
     "--client-application 'Outlook/16.0 äöü' must be printable ASCII (it is sent in an "
     "ASCII field of the protocol)"),
    ("--client-application", "Outlook/16.0\r\nX-Evil: 1",
     "--client-application 'Outlook/16.0\\r\\nX-Evil: 1' must be printable ASCII (it is "
     "sent in an ASCII field of the protocol)"),
    ("--client-application", "x" * 257, "--client-application is 257 characters long: at "
     "most 256"),
    ("--legacy-dn", "/o=Contöso/cn=probe", "--legacy-dn '/o=Contöso/cn=probe' must be "
     "printable ASCII (it is sent in an ASCII field of the protocol)"),
    ("--legacy-dn", "/o=Contoso/cn=" + "x" * 70000, "--legacy-dn is 70014 characters long: "
     "at most 4096"),
])
def test_values_sent_as_ascii_are_checked(option: str, value: str, reason: str) -> None:
    assert unknown(option, value) == f"MAPI UNKNOWN - {reason}"


@pytest.mark.parametrize(("proxy", "reason"), [
    ("garbage://x", "--proxy 'garbage://x' is not an http(s) URL"),
    (" ", "--proxy ' ' is not a proxy URL: give http://HOST:PORT"),
    ("https://proxy:3128", "--proxy 'https://proxy:3128': only http:// proxies are "
     "supported (not TLS to the proxy itself)"),
])
def test_a_bad_proxy_is_unknown(proxy: str, reason: str) -> None:
    assert unknown("--proxy", proxy) == f"MAPI UNKNOWN - {reason}"


def test_an_empty_proxy_means_no_proxy(start: Emulators) -> None:
    """``--proxy ''`` (as curl: no proxy) overrides one from an --extra-opts section."""
    emulator = start(emulator_config())
    outcome = mapi(emulator.url, "--proxy", "")
    assert (outcome.code, outcome.first_line.startswith(OK)) == (0, True), outcome.output


# -- secrets ------------------------------------------------------------------------------

def bearer_emulator(start: Emulators) -> str:
    config = emulator_config(mailbox(extra=f'tokens = ["{TOKEN}"]\n')).replace(
        'methods = ["basic"]', 'methods = ["basic", "bearer"]')
    return str(start(config).url)


def private(tmp_path: Path, name: str, content: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content)
    os.chmod(path, 0o600)
    return str(path)


def token_run(base: str, *argv: str) -> tuple[int, str]:
    from check_mapi.plugin.main import run  # the token alone: no --password

    code, output = run(["-m", SMTP, "--url", base + MAPI_PATH, "--legacy-dn", LEGACY_DN,
                        "-t", "10", *argv])
    return int(code), output


@pytest.mark.parametrize("around", ["\n", " ", "\x0b", "\r\n", "\t", " \n", "\n\n"])
@pytest.mark.parametrize("source", ["file", "env", "ini"])
def test_a_token_with_whitespace_around_it_is_trimmed(
        start: Emulators, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str,
        around: str) -> None:
    base = bearer_emulator(start)
    value = TOKEN + around
    if source == "file":
        argv = ["--token-file", private(tmp_path, "token", value.encode())]
    elif source == "env":
        monkeypatch.setenv("CHECK_MAPI_TOKEN", value)
        argv = []
    else:  # configparser strips spaces; a vertical tab or a line end survives in a value
        ini = private(tmp_path, "plugins.ini", b"[check_mapi]\ntoken = " + value.encode()
                      + b"\n")
        argv = [f"--extra-opts=check_mapi@{ini}"]
    code, output = token_run(base, *argv)
    assert (code, output.startswith(OK)) == (0, True), output


@pytest.mark.parametrize("inside", [" ", "\x0b", "\n", "\x1f", "é"])
@pytest.mark.parametrize("source", ["env", "option"])
def test_a_token_with_something_inside_is_refused_unechoed(
        monkeypatch: pytest.MonkeyPatch, source: str, inside: str) -> None:
    value = TOKEN[:8] + inside + TOKEN[8:]
    if source == "env":
        monkeypatch.setenv("CHECK_MAPI_TOKEN", value)
        argv, origin = [], "$CHECK_MAPI_TOKEN"
    else:
        argv, origin = ["--token", value], "--token"
    code, output = token_run(UNREACHABLE.removesuffix("/mapi/emsmdb/"), *argv)
    assert (code, output) == (3, f"MAPI UNKNOWN - the token from {origin} contains a space, a "
                                 "control character or a non-ASCII character, which no "
                                 "bearer token has\n")
    assert TOKEN[:8] not in output and TOKEN[8:] not in output


def test_a_token_file_with_a_nul_is_refused(tmp_path: Path) -> None:
    path = private(tmp_path, "token", TOKEN[:8].encode() + b"\0" + TOKEN[8:].encode())
    code, output = token_run(UNREACHABLE.removesuffix("/mapi/emsmdb/"), "--token-file", path)
    assert (code, output) == (3, f"MAPI UNKNOWN - the token from --token-file {path} contains "
                                 "a space, a control character or a non-ASCII character, "
                                 "which no bearer token has\n")


@pytest.mark.parametrize("value", ["\n", " \x0b ", ""])
def test_a_blank_token_file_is_refused(tmp_path: Path, value: str) -> None:
    path = private(tmp_path, "token", value.encode())
    code, output = token_run(UNREACHABLE.removesuffix("/mapi/emsmdb/"), "--token-file", path)
    assert code == 3
    assert output in (f"MAPI UNKNOWN - token file {path} is empty\n",
                      f"MAPI UNKNOWN - the token from --token-file {path} is empty\n")


def password_run(base: str, *argv: str) -> tuple[int, str]:
    from check_mapi.plugin.main import run

    code, output = run(["-m", SMTP, "--url", base + MAPI_PATH, "--legacy-dn", LEGACY_DN,
                        "--auth", "basic", "-t", "10", *argv])
    return int(code), output


@pytest.mark.parametrize("around", ["\n", "\r\n", "\n\n"])
def test_a_password_with_a_line_end_from_the_environment_works(
        start: Emulators, monkeypatch: pytest.MonkeyPatch, around: str) -> None:
    base = str(start(emulator_config()).url)
    monkeypatch.setenv("CHECK_MAPI_PASSWORD", PASSWORD + around)
    code, output = password_run(base)
    assert (code, output.startswith(OK)) == (0, True), output


def password_from(source: str, value: str, tmp_path: Path,
                  monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], str]:
    """The options that give ``value`` as the password from ``source``, and its origin."""
    if source == "env":
        monkeypatch.setenv("CHECK_MAPI_PASSWORD", value)
        return [], "$CHECK_MAPI_PASSWORD"
    if source == "file":
        path = private(tmp_path, "pw", value.encode())
        return ["--password-file", path], f"--password-file {path}"
    ini = private(tmp_path, "p.ini", f"[check_mapi]\npassword = {value}\n".encode())
    return [f"--extra-opts=check_mapi@{ini}"], "--password"


@pytest.mark.parametrize("source", ["env", "file", "ini"])
@pytest.mark.parametrize("stray", ["\x0b", "\t", "\x1b", "\x7f"])
def test_a_password_with_a_control_character_is_refused_unechoed(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, source: str, stray: str) -> None:
    argv, origin = password_from(source, PASSWORD[:6] + stray + PASSWORD[6:], tmp_path,
                                 monkeypatch)
    code, output = password_run(UNREACHABLE.removesuffix("/mapi/emsmdb/"), *argv)
    assert (code, output) == (3, f"MAPI UNKNOWN - the password from {origin} contains a "
                                 "control character (a line break or tab copied with it?)\n")
    assert PASSWORD[:6] not in output and PASSWORD[6:] not in output
