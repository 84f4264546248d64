"""A real squid on a loopback port, in the foreground, for one kind of proxy logon.

``Squid.start(kind, users)``: ``kind`` "none" (anyone on loopback), "basic"
(``basic_ncsa_auth`` over an htpasswd file written here) or "ntlm" (NTLM and Basic offered,
in that order; NTLM checked by pyspnego's acceptor). squid.conf, pid file, logs and helper
files live in a fresh temporary folder; ``stop()`` ends squid (SIGTERM, then SIGKILL) and
removes the folder.

What it takes to run squid here (the facts behind the code):

- squid started as root switches to ``cache_effective_user`` (``proxy`` on Debian) after
  binding its port; its logs, pid file and helpers then run as that user. So the folder
  is made in the system temporary folder (pytest's own is 0700 under /tmp/pytest-of-root)
  and handed to that user. As another user, squid ignores the directive and runs as us.
- Helpers cannot use this virtual environment's interpreter: it may live where ``proxy``
  cannot go (here /root/.pyenv under a 0700 /root). The NTLM helper squid starts is
  therefore a stdlib relay run by the system's python3: it passes squid's lines (``YR``/
  ``KK`` in, ``TT``/``AF``/``NA``/``BH`` out) over loopback to ``_NtlmHelper`` in this
  process, which answers them with pyspnego's NTLM acceptor and checks the password
  (``ntlm_fake_auth`` would accept any). The acceptor reads its users from
  ``NTLM_USER_FILE``, which the emulator owns in this process: ``user_file`` shares it.
- No DNS: squid is told to ask 127.0.0.1 only; the tests' targets are IP addresses, or
  refused by port before any lookup.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import pwd
import shutil
import signal
import socket
import socketserver
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import spnego
from spnego.exceptions import SpnegoError

from check_mapi.emulator.ntlm import user_file

SQUID = shutil.which("squid") or shutil.which("squid", path="/usr/sbin:/sbin") or "/usr/sbin/squid"
BASIC_HELPER = "/usr/lib/squid/basic_ncsa_auth"
SQUID_USER = "proxy"  # Debian's cache_effective_user
DOMAIN = "CONTOSO"
STARTUP = 20.0  # seconds squid may take to accept connections

RELAY = """\
import socket, sys
server = socket.create_connection(("127.0.0.1", {port}))
answers = server.makefile("rb")
for line in sys.stdin.buffer:
    server.sendall(line)
    sys.stdout.buffer.write(answers.readline() or b"BH helper gone\\n")
    sys.stdout.flush()
"""

CONF = """\
http_port 127.0.0.1:{port}
pid_filename {folder}/squid.pid
cache_log {folder}/cache.log
access_log stdio:{folder}/access.log
cache_store_log none
coredump_dir {folder}
cache deny all
cache_mem 8 MB
visible_hostname check-mapi-test-proxy
dns_nameservers 127.0.0.1
shutdown_lifetime 0 seconds
pinger_enable off
netdb_filename none
max_filedescriptors 1024
{user}
acl Safe_ports port 1024-65535
http_access deny !Safe_ports
{auth}
http_access deny all
"""

AUTH = {
    "none": "http_access allow localhost",
    "basic": """\
auth_param basic program {basic} {folder}/htpasswd
auth_param basic children 2 startup=1 idle=1
auth_param basic realm check_mapi tests
acl authed proxy_auth REQUIRED
http_access allow authed""",
    "ntlm": """\
auth_param ntlm program {python} {folder}/ntlm_relay.py
auth_param ntlm children 2 startup=1 idle=1
auth_param ntlm keep_alive on
auth_param basic program {basic} {folder}/htpasswd
auth_param basic children 2 startup=1 idle=1
auth_param basic realm check_mapi tests
acl authed proxy_auth REQUIRED
http_access allow authed""",
}


class Squid:
    """One running squid; ``url`` is its proxy URL."""

    def __init__(self, kind: str, port: int, folder: Path, process: subprocess.Popen[bytes],
                 helper: _NtlmHelper | None) -> None:
        self.kind, self.port, self.folder = kind, port, folder
        self.process, self._helper = process, helper
        self.url = f"http://127.0.0.1:{port}"

    @classmethod
    def start(cls, kind: str, users: dict[str, str]) -> Squid:
        if not (os.access(SQUID, os.X_OK) and os.access(BASIC_HELPER, os.X_OK)):
            raise RuntimeError("the proxy tests need squid: apt-get install squid "
                               "(.ci/run installs it)")
        folder = Path(tempfile.mkdtemp(prefix="check_mapi-squid-", dir=tempfile.gettempdir()))
        helper = _NtlmHelper(users) if kind == "ntlm" else None
        try:
            port = _free_port()
            (folder / "htpasswd").write_text(
                "".join(f"{user}:{md5_crypt(password, _salt())}\n"
                        for user, password in users.items()))
            if helper is not None:
                (folder / "ntlm_relay.py").write_text(RELAY.format(port=helper.port))
            auth = AUTH[kind].format(basic=BASIC_HELPER, folder=folder, python=_python())
            user = f"cache_effective_user {SQUID_USER}" if os.geteuid() == 0 else ""
            (folder / "squid.conf").write_text(
                CONF.format(port=port, folder=folder, user=user, auth=auth))
            _hand_over(folder)
            with open(folder / "squid.out", "wb") as out:
                process = subprocess.Popen([SQUID, "-N", "-f", str(folder / "squid.conf")],
                                           stdin=subprocess.DEVNULL, stdout=out,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        except BaseException:
            if helper is not None:
                helper.close()
            shutil.rmtree(folder, ignore_errors=True)
            raise
        squid = cls(kind, port, folder, process, helper)
        try:
            squid._wait_until_accepting()
        except BaseException:
            squid.stop()
            raise
        return squid

    def access_log(self) -> str:
        path = self.folder / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        if self._helper is not None:
            self._helper.close()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _wait_until_accepting(self) -> None:
        until = time.monotonic() + STARTUP
        while time.monotonic() < until:
            if self.process.poll() is not None:
                raise RuntimeError(f"squid exited with {self.process.returncode}:\n"
                                   f"{self._diagnosis()}")
            with contextlib.suppress(OSError), socket.create_connection(
                    ("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.05)
        raise RuntimeError(f"squid did not accept on port {self.port}:\n{self._diagnosis()}")

    def _diagnosis(self) -> str:
        texts = [(self.folder / name).read_text(errors="replace")[-3000:]
                 for name in ("squid.out", "cache.log") if (self.folder / name).exists()]
        return "\n".join(texts)


def _hand_over(folder: Path) -> None:
    """As root, the folder and its files belong to squid's user, who writes logs there."""
    folder.chmod(0o755)
    (folder / "htpasswd").chmod(0o600)
    if os.geteuid() != 0:
        return
    entry = pwd.getpwnam(SQUID_USER)
    for path in (folder, *folder.iterdir()):
        os.chown(path, entry.pw_uid, entry.pw_gid)


def _python() -> str:
    """An interpreter squid's user may run: the system's (the relay needs only stdlib)."""
    return shutil.which("python3", path="/usr/bin:/bin") or shutil.which("python3") or "python3"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _salt() -> str:
    return base64.b64encode(os.urandom(6), b"./").decode()


# -- the NTLM helper -------------------------------------------------------------------------


class _NtlmHelper:
    """squid's NTLM helper protocol over pyspnego's NTLM acceptor, one context per relay."""

    def __init__(self, users: dict[str, str]) -> None:
        accounts = tuple(users.items())

        class Handler(socketserver.StreamRequestHandler):
            def handle(self) -> None:
                context = None
                for raw in self.rfile:
                    command, _, blob = raw.decode("ascii", "replace").strip().partition(" ")
                    try:
                        token = base64.b64decode(blob)
                        with user_file(accounts, DOMAIN):
                            if command == "YR":
                                context = spnego.server(protocol="ntlm")
                                challenge = context.step(token) or b""
                                answer = "TT " + base64.b64encode(challenge).decode()
                            elif command == "KK" and context is not None:
                                context.step(token)
                                answer = f"AF {context.client_principal}"
                                context = None
                            else:
                                answer = f"BH unexpected {command}"
                    except (SpnegoError, ValueError) as err:
                        answer, context = f"NA {type(err).__name__}", None
                    self.wfile.write(answer.encode() + b"\n")

        self._server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@contextlib.contextmanager
def running(kind: str, users: dict[str, str]) -> Iterator[Squid]:
    squid = Squid.start(kind, users)
    try:
        yield squid
    finally:
        squid.stop()


# -- htpasswd ---------------------------------------------------------------------------------

_ITOA64 = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def md5_crypt(password: str, salt: str) -> str:
    """The "$1$" MD5-crypt hash basic_ncsa_auth checks (Python's crypt module is
    deprecated, and squid's ncsa helper reads no {SHA} lines)."""
    secret, salted = password.encode(), salt[:8].encode()
    final = hashlib.md5(secret + salted + secret).digest()
    text = secret + b"$1$" + salted
    for left in range(len(secret), 0, -16):
        text += final[:min(16, left)]
    length = len(secret)
    while length:
        text += b"\0" if length & 1 else secret[:1]
        length >>= 1
    final = hashlib.md5(text).digest()
    for i in range(1000):
        step = (secret if i & 1 else final) + (salted if i % 3 else b"")
        step += (secret if i % 7 else b"") + (final if i & 1 else secret)
        final = hashlib.md5(step).digest()

    def to64(value: int, count: int) -> str:
        out = ""
        for _ in range(count):
            out += _ITOA64[value & 0x3F]
            value >>= 6
        return out

    groups = ((0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5))
    encoded = "".join(to64((final[a] << 16) | (final[b] << 8) | final[c], 4)
                      for a, b, c in groups) + to64(final[11], 2)
    return f"$1${salt[:8]}${encoded}"
