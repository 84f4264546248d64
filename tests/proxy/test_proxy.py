"""The whole probe through a real squid to the emulator: no logon, Basic and NTLM proxies.

Each squid kind runs once per session (``squid.py``); each test starts its own emulator.
Nothing leaves loopback: the targets are 127.0.0.1, or names refused by port before squid
would look them up (and squid asks only 127.0.0.1 for names).
"""

from __future__ import annotations

import base64
import http.server
import os
import re
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from check_mapi.emulator import Emulator
from check_mapi.plugin.main import run

from ..conftest import Emulators, Tls
from ..plugin.conftest import BASE, GUID, LEGACY_DN, PASSWORD, SMTP
from ..plugin_output import Outcome
from .squid import DOMAIN, Squid

PROXY_USER = "proxyuser"
PROXY_PASSWORD = "Pr0xy-S3ntinel-pw!"  # a sentinel: must never appear in any output
METHODS = 'methods = ["basic", "bearer"]'  # in tests/plugin/conftest.py's BASE
assert METHODS in BASE
BASIC_ONLY = BASE.replace(METHODS, 'methods = ["basic"]')
NTLM_ORIGIN = BASE.replace(METHODS, f'methods = ["ntlm"]\nrequire_channel_binding = true\n'
                                    f'domain = "{DOMAIN}"')
OK = re.compile(rf"MAPI OK - {re.escape(SMTP)} logged on in \d+\.\d\d s, Inbox 2 items \| "
                r".*availability=1;;;0;1 ")
CREDENTIALS = {"none": (), "basic": ("--proxy-user", PROXY_USER),
               "ntlm": ("--proxy-user", f"{DOMAIN}\\{PROXY_USER}")}
LOGGED_AS = {"none": "-", "basic": PROXY_USER, "ntlm": f"{DOMAIN}\\{PROXY_USER}"}


@pytest.fixture(scope="module")
def squids() -> Iterator[dict[str, Squid]]:
    """The three kinds, each started on first use and stopped after this module."""
    started: dict[str, Squid] = {}

    class Lazy(dict[str, Squid]):
        def __missing__(self, kind: str) -> Squid:
            started[kind] = Squid.start(kind, {PROXY_USER: PROXY_PASSWORD})
            self[kind] = started[kind]
            return started[kind]

    try:
        yield Lazy()
    finally:
        for squid in started.values():
            squid.stop()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def mapi_url(emulator: Emulator) -> str:
    return f"{emulator.url}/mapi/emsmdb/?MailboxId={GUID}@contoso.com"


def probe(url: str, *extra: str, tls: Tls | None = None,
          env: dict[str, str] | None = None) -> Outcome:
    """The plugin in-process; both passwords come from the environment (the proxy's with
    --proxy-user)."""
    argv = ["-m", SMTP, "--url", url, "--legacy-dn", LEGACY_DN, "-t", "10", *extra]
    if tls is not None:
        argv += ["--ca-file", str(tls.ca_pem)]
    environment = {"CHECK_MAPI_PASSWORD": PASSWORD, **(env or {})}
    if "--proxy-user" in extra:
        environment.setdefault("CHECK_MAPI_PROXY_PASSWORD", PROXY_PASSWORD)
    code, output = run(argv, env=environment)
    return Outcome(int(code), output)


def tunnels(squid: Squid, emulator: Emulator) -> list[str]:
    """The tunnels to this emulator in squid's access log (squid writes a tunnel's line when
    it closes, which may be a moment after the plugin ended)."""
    port = emulator.url.rsplit(":", 1)[1]
    until = time.monotonic() + 5
    while True:
        lines = [line.replace("\\\\", "\\") for line in squid.access_log().splitlines()
                 if " TCP_TUNNEL/200 " in line and f" CONNECT 127.0.0.1:{port} " in line]
        if lines or time.monotonic() > until:
            return lines
        time.sleep(0.05)


@pytest.mark.parametrize("kind", ["none", "basic", "ntlm"])
def test_probe_through_each_proxy(kind: str, squids: dict[str, Squid], start: Emulators,
                                  tls: Tls) -> None:
    squid, emulator = squids[kind], start(BASIC_ONLY, tls=tls)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url,
                    *CREDENTIALS[kind], tls=tls)
    assert outcome.code == 0, outcome.output
    assert OK.match(outcome.first_line), outcome.first_line
    # One tunnel, logged on as whom the kind says (NTLM: the DOMAIN\user of the NTLM legs)
    lines = tunnels(squid, emulator)
    assert len(lines) == 1, lines
    assert f" {LOGGED_AS[kind]} HIER_DIRECT/127.0.0.1 " in lines[0]
    assert emulator.stats().open_sessions == 0


def test_ntlm_proxy_then_ntlm_with_channel_binding_to_the_origin(
        squids: dict[str, Squid], start: Emulators, tls: Tls) -> None:
    """NTLM to the proxy on the CONNECT, then TLS and the origin's own NTLM, bound to the
    certificate the client saw through the tunnel."""
    squid, emulator = squids["ntlm"], start(NTLM_ORIGIN, tls=tls)
    outcome = probe(mapi_url(emulator), "--auth", "ntlm", "-u", f"{DOMAIN}\\probe",
                    "--proxy", squid.url, *CREDENTIALS["ntlm"], tls=tls)
    assert outcome.code == 0, outcome.output
    assert OK.match(outcome.first_line), outcome.first_line
    assert len(tunnels(squid, emulator)) == 1


def test_the_domain_may_come_from_proxy_domain(squids: dict[str, Squid], start: Emulators,
                                               tls: Tls) -> None:
    squid, emulator = squids["ntlm"], start(BASIC_ONLY, tls=tls)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url,
                    "--proxy-user", PROXY_USER, "--proxy-domain", DOMAIN, tls=tls)
    assert outcome.code == 0, outcome.output
    assert f" {DOMAIN}\\{PROXY_USER} HIER_DIRECT/" in tunnels(squid, emulator)[0]


def test_without_a_domain_an_ntlm_proxy_gets_basic(squids: dict[str, Squid],
                                                   start: Emulators, tls: Tls) -> None:
    squid, emulator = squids["ntlm"], start(BASIC_ONLY, tls=tls)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url,
                    *CREDENTIALS["basic"], tls=tls)
    assert outcome.code == 0, outcome.output
    assert f" {PROXY_USER} HIER_DIRECT/" in tunnels(squid, emulator)[0]


@pytest.mark.parametrize(("kind", "offers"), [("basic", "Basic"), ("ntlm", "NTLM, Basic")])
def test_wrong_proxy_password(kind: str, offers: str, squids: dict[str, Squid],
                              start: Emulators, tls: Tls) -> None:
    emulator = start(BASIC_ONLY, tls=tls)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squids[kind].url,
                    *CREDENTIALS[kind], tls=tls,
                    env={"CHECK_MAPI_PROXY_PASSWORD": "not-the-password"})
    assert outcome.code == 2
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: proxy refused the credentials "
        f"(HTTP 407 Proxy Authentication Required, offers {offers})")
    assert emulator.stats().tcp_connections == 0  # the proxy refused before connecting


def test_no_credentials_for_an_authenticating_proxy(squids: dict[str, Squid],
                                                    start: Emulators, tls: Tls) -> None:
    squid, emulator = squids["ntlm"], start(BASIC_ONLY, tls=tls)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url, tls=tls)
    assert outcome.code == 2
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: proxy 127.0.0.1:{squid.port} requires a "
        "logon (HTTP 407 Proxy Authentication Required, offers NTLM, Basic): give --proxy-user")


def test_proxy_unreachable(start: Emulators, tls: Tls) -> None:
    emulator, port = start(BASIC_ONLY, tls=tls), free_port()
    outcome = probe(mapi_url(emulator), "--auth", "basic",
                    "--proxy", f"http://127.0.0.1:{port}", tls=tls)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: connect failed: proxy "
                              f"127.0.0.1:{port} unreachable: Connection refused")


def test_proxy_refuses_connect_to_the_port(squids: dict[str, Squid]) -> None:
    """squid allows CONNECT to ports 1024-65535 only; the name is never looked up."""
    outcome = probe("https://mail.contoso.example:1000/mapi/emsmdb/?MailboxId=x@contoso.com",
                    "--auth", "basic", "--proxy", squids["none"].url)
    assert outcome.code == 2
    assert outcome.status == (f"MAPI CRITICAL - {SMTP}: connect failed: proxy refused CONNECT "
                              "to mail.contoso.example:1000 (HTTP 403 Forbidden)")


def test_proxy_cannot_reach_the_origin(squids: dict[str, Squid]) -> None:
    port = free_port()
    outcome = probe(f"https://127.0.0.1:{port}/mapi/emsmdb/?MailboxId=x@contoso.com",
                    "--auth", "basic", "--proxy", squids["none"].url)
    assert outcome.code == 2
    assert outcome.status.startswith(
        f"MAPI CRITICAL - {SMTP}: connect failed: proxy failed to connect to "
        f"127.0.0.1:{port} (HTTP 503 Service Unavailable, ERR_CONNECT_FAIL")


@pytest.mark.parametrize("entry", ["127.0.0.1", "*"])
def test_no_proxy_bypasses_the_proxy(entry: str, start: Emulators, tls: Tls) -> None:
    emulator = start(BASIC_ONLY, tls=tls)
    dead = f"http://127.0.0.1:{free_port()}"
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", dead,
                    "--no-proxy", f"mail.contoso.example,{entry}", tls=tls)
    assert outcome.code == 0, outcome.output


def test_proxy_from_env(squids: dict[str, Squid], start: Emulators, tls: Tls) -> None:
    squid, emulator = squids["basic"], start(BASIC_ONLY, tls=tls)
    # lower case wins; the credentials may ride in the URL (taken out of it)
    env = {"https_proxy": f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{squid.port}",
           "HTTPS_PROXY": f"http://127.0.0.1:{free_port()}"}
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy-from-env", "-vvv",
                    tls=tls, env=env)
    assert outcome.code == 0, outcome.output
    assert len(tunnels(squid, emulator)) == 1
    assert PROXY_PASSWORD not in outcome.output
    # without --proxy-from-env the environment is not read: a direct connection
    before = len(squid.access_log().splitlines())
    assert probe(mapi_url(emulator), "--auth", "basic", tls=tls, env=env).code == 0
    assert len(squid.access_log().splitlines()) == before
    # NO_PROXY of the environment
    dead = {"HTTP_PROXY": f"http://127.0.0.1:{free_port()}", "NO_PROXY": "localhost,127.0.0.1"}
    assert probe(mapi_url(emulator), "--auth", "basic", "--proxy-from-env", tls=tls,
                 env=dead).code == 0


@pytest.mark.parametrize("kind", ["none", "basic", "ntlm"])
def test_plain_http_targets_through_the_proxy(kind: str, squids: dict[str, Squid],
                                              start: Emulators) -> None:
    """Forwarded (no logon, Basic), or through a tunnel when the logon may be NTLM."""
    squid, emulator = squids[kind], start(BASIC_ONLY)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url,
                    *CREDENTIALS[kind])
    assert outcome.code == 0, outcome.output
    port = emulator.url.rsplit(":", 1)[1]
    way = "CONNECT 127.0.0.1" if kind == "ntlm" else "POST http://127.0.0.1"
    until = time.monotonic() + 5  # a tunnel is logged when it closes
    while f"{way}:{port}" not in squid.access_log() and time.monotonic() < until:
        time.sleep(0.05)
    assert f"{way}:{port}" in squid.access_log()


def test_forwarded_requests_refused_by_the_proxy(squids: dict[str, Squid],
                                                 start: Emulators) -> None:
    squid, emulator = squids["basic"], start(BASIC_ONLY)
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url)
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: proxy 127.0.0.1:{squid.port} requires a "
        "logon (HTTP 407 Proxy Authentication Required, offers Basic): give --proxy-user")
    outcome = probe(mapi_url(emulator), "--auth", "basic", "--proxy", squid.url,
                    *CREDENTIALS["basic"], env={"CHECK_MAPI_PROXY_PASSWORD": "wrong-password"})
    assert outcome.status == (
        f"MAPI CRITICAL - {SMTP}: connect failed: proxy refused the credentials "
        "(HTTP 407 Proxy Authentication Required, offers Basic)")
    assert emulator.stats().tcp_connections == 0


@pytest.mark.parametrize("kind", ["basic", "ntlm"])
@pytest.mark.parametrize("proxy_password", [PROXY_PASSWORD, "wrong-password"])
def test_no_secret_in_any_output(kind: str, proxy_password: str, squids: dict[str, Squid],
                                 start: Emulators, tls: Tls) -> None:
    """A real process at -vvv: stdout and stderr hold neither password."""
    emulator = start(BASIC_ONLY, tls=tls)
    env = {**os.environ, "CHECK_MAPI_PASSWORD": PASSWORD,
           "CHECK_MAPI_PROXY_PASSWORD": proxy_password}
    proc = subprocess.run(
        [sys.executable, "-m", "check_mapi", "-m", SMTP, "--url", mapi_url(emulator),
         "--legacy-dn", LEGACY_DN, "--auth", "basic", "--ca-file", str(tls.ca_pem),
         "--proxy", squids[kind].url, *CREDENTIALS[kind], "-vvv", "-t", "20"],
        capture_output=True, text=True, timeout=60, check=False, env=env)
    assert proc.returncode == (0 if proxy_password == PROXY_PASSWORD else 2), proc.stdout
    assert proc.stderr == ""
    for secret in (PASSWORD, PROXY_PASSWORD, proxy_password):
        assert secret not in proc.stdout


class _EchoProxy(http.server.BaseHTTPRequestHandler):
    """A forwarding proxy that answers every request itself with the request's headers."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        body = f"<html><body>You sent: {self.requestline} {self.headers}</body></html>"
        data = body.replace("\n", " ").encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


def test_a_proxy_that_echoes_the_request_shows_no_secret() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _EchoProxy)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        outcome = probe(f"http://127.0.0.1:{free_port()}/mapi/emsmdb/?MailboxId=x@contoso.com",
                        "--auth", "basic", "--proxy",
                        f"http://127.0.0.1:{server.server_address[1]}",
                        *CREDENTIALS["basic"], "-vvv")
    finally:
        server.shutdown()
        server.server_close()
    token = base64.b64encode(f"{PROXY_USER}:{PROXY_PASSWORD}".encode()).decode()
    assert outcome.code == 2
    assert "Proxy-Authorization: Basic ***" in outcome.output  # the echo did reach the output
    assert PROXY_PASSWORD not in outcome.output
    assert token not in outcome.output


@pytest.mark.parametrize(("argv", "message"), [
    (["--proxy", "https://127.0.0.1:3128"],
     "--proxy 'https://127.0.0.1:3128': only http:// proxies are supported (not TLS to the "
     "proxy itself)"),
    (["--proxy", f"http://u:{PROXY_PASSWORD}@[proxy"],
     "--proxy 'http://***@[proxy' is not a valid URL (Invalid IPv6 URL)"),
    (["--proxy", "http://127.0.0.1:3128", "--ip", "127.0.0.1"],
     "--ip has no effect through the proxy http://127.0.0.1:3128, which resolves names "
     "itself: reach the host directly with --no-proxy"),
    (["--proxy", "http://127.0.0.1:3128", "--resolve", "mail.contoso.example:127.0.0.1"],
     "--resolve mail.contoso.example has no effect through the proxy http://127.0.0.1:3128, "
     "which resolves names itself: reach the host directly with --no-proxy"),
])
def test_proxy_configuration_errors(argv: list[str], message: str) -> None:
    outcome = probe("https://mail.contoso.example/mapi/emsmdb/?MailboxId=x@contoso.com",
                    *argv)
    assert outcome.code == 3
    assert outcome.status == f"MAPI UNKNOWN - {message}"
    assert PROXY_PASSWORD not in outcome.output


def test_resolve_for_a_host_reached_directly(start: Emulators, tls: Tls) -> None:
    """--resolve is allowed with a proxy for a host that --no-proxy sends directly."""
    emulator = start(BASIC_ONLY, tls=tls)
    outcome = probe(mapi_url(emulator).replace("127.0.0.1", "localhost"), "--auth", "basic",
                    "--proxy", f"http://127.0.0.1:{free_port()}", "--no-proxy", "localhost",
                    "--resolve", "localhost:127.0.0.1", tls=tls)
    assert outcome.code == 0, outcome.output


def test_basic_run_through_a_proxy_loads_no_spnego(squids: dict[str, Squid], start: Emulators,
                                                   tls: Tls, tmp_path: Path) -> None:
    emulator = start(BASIC_ONLY, tls=tls)
    script = ("import sys, json\nfrom check_mapi.plugin.main import run\n"
              "code, out = run(sys.argv[1:])\n"
              "print(json.dumps([int(code), out, 'spnego' in sys.modules]))\n")
    proc = subprocess.run(
        [sys.executable, "-c", script, "-m", SMTP, "--url", mapi_url(emulator),
         "--legacy-dn", LEGACY_DN, "--auth", "basic", "--ca-file", str(tls.ca_pem),
         "--proxy", squids["ntlm"].url, *CREDENTIALS["basic"]],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "CHECK_MAPI_PASSWORD": PASSWORD,
             "CHECK_MAPI_PROXY_PASSWORD": PROXY_PASSWORD}, cwd=tmp_path)
    assert proc.stdout.startswith("[0, "), proc.stdout + proc.stderr
    assert proc.stdout.rstrip().endswith("false]")
