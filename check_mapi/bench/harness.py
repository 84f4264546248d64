"""What every case shares: the venv's check_mapi, a scratch folder, emulator configs,
recording check_mapi's requests, and running the floor replay.

The emulators run inside the benchmark's own process (``check_mapi.emulator.Emulator``);
everything measured runs as a child process of the installed venv, with a clean
environment and the scratch folder as working directory and state directory.
"""

from __future__ import annotations

import json
import re
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from check_mapi.emulator import Emulator, loads

from . import replay
from .install import clean_env
from .measure import Run, run_process
from .proxy import DelayingProxy

PASSWORD = "Bench-Passw0rd!"
TOKEN = "bench-bearer-token"
SMTP = "probe@contoso.com"
REPLAY_SCRIPT = Path(replay.__file__)


def mailbox_toml(smtp: str, items: int) -> str:
    guid = uuid.uuid5(uuid.NAMESPACE_URL, f"check_mapi-bench:{smtp}")
    return (f'[[mailbox]]\nsmtp = "{smtp}"\npassword = "{PASSWORD}"\n'
            f'tokens = ["{TOKEN}"]\nmailbox_guid = "{guid}"\ngenerate_items = {items}\n')


def config_text(*, mailboxes: int = 1, items: int = 10,
                methods: tuple[str, ...] = ("basic",)) -> str:
    """An emulator configuration: ``probe@contoso.com`` (or box000..box<N-1> when
    ``mailboxes`` > 1) with ``items`` generated Inbox items each, no faults."""
    quoted = ", ".join(f'"{m}"' for m in methods)
    smtps = [SMTP] if mailboxes == 1 else [f"box{i:03d}@contoso.com" for i in range(mailboxes)]
    return (f"[server]\n\n[auth]\nmethods = [{quoted}]\n\n"
            + "\n".join(mailbox_toml(smtp, items) for smtp in smtps))


def start_emulator(text: str, tls: tuple[Path, Path] | None = None) -> Emulator:
    if tls is None:
        return Emulator(loads(text)).start()
    return Emulator(loads(text), tls_cert=tls[0], tls_key=tls[1]).start()


def url_args(emulator: Emulator, smtp: str = SMTP, port: int | None = None) -> list[str]:
    """``--url ... --legacy-dn ...`` for ``smtp``, optionally through a proxy's port."""
    mailbox = emulator.config.by_smtp(smtp)
    assert mailbox is not None
    url = emulator.mapi_url(smtp)
    if port is not None:
        scheme = emulator.url.split(":", 1)[0]
        url = f"{scheme}://127.0.0.1:{port}{url[len(emulator.url):]}"
    return ["--url", url, "--legacy-dn", mailbox.legacy_dn]


@dataclass
class Harness:
    """The venv under test and the scratch folder of one benchmark run."""

    venv: Path
    work: Path
    n: int
    quick: bool

    def __post_init__(self) -> None:
        self.state = self.work / "state"
        self.state.mkdir(exist_ok=True)
        self.password_file = self.work / "password"
        self.password_file.write_text(PASSWORD + "\n")
        self.password_file.chmod(0o600)
        self.token_file = self.work / "token"
        self.token_file.write_text(TOKEN + "\n")
        self.token_file.chmod(0o600)
        self.script = self.work / "replay.py"  # a folder of its own: nothing to shadow stdlib
        shutil.copy(REPLAY_SCRIPT, self.script)
        self._tls: tuple[Path, Path] | None = None
        self.env = clean_env(MP_STATE_PATH=str(self.state))

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    @property
    def tls(self) -> tuple[Path, Path]:
        """The self-signed certificate and key (made once per run)."""
        if self._tls is None:
            from check_mapi.emulator.selfsigned import self_signed

            folder = self.work / "tls"
            folder.mkdir()
            self._tls = self_signed(folder)
        return self._tls

    def check_mapi(self, *args: str, timeout: float = 120.0) -> Run:
        return run_process([str(self.venv / "bin" / "check_mapi"), *args], env=self.env,
                           cwd=str(self.work), timeout=timeout)

    def run_python(self, *args: str, timeout: float = 120.0) -> Run:
        return run_process([self.python, *args], env=self.env, cwd=str(self.work),
                           timeout=timeout)

    def probe_args(self, *args: str) -> list[str]:
        """A Basic probe of ``probe@contoso.com`` with the password file."""
        return ["-m", SMTP, "--auth", "basic", "--password-file", str(self.password_file),
                "-t", "30", *args]

    def write_plan(self, name: str, connections: list[list[bytes]], port: int,
                   cafile: Path | None = None, **options: Any) -> Path:
        """A replay plan for ``replay.py``: the recorded requests, sent to ``port``
        (``options``: ``threads``, ``client``, see there)."""
        plan: dict[str, Any] = {
            "host": "127.0.0.1", "port": port, "tls": cafile is not None,
            "cafile": str(cafile) if cafile else None, **options,
            "connections": [[r.decode("latin-1") for r in c] for c in connections]}
        path = self.work / f"plan-{name}.json"
        path.write_text(json.dumps(plan))
        return path

    def floor(self, plan: Path) -> Run:
        return self.run_python(str(self.script), str(plan), timeout=60)

    def record(self, emulator_text: str, args_for: Any) -> list[list[bytes]]:
        """Run check_mapi once through a recording relay and return its requests, per
        connection. ``args_for(emulator, proxy_port)`` gives the command line; the
        emulator advertises the relay's URL in Autodiscover, so every request passes it."""
        with DelayingProxy(0, record=True) as tap:
            emulator = start_emulator(config_text_with_base(emulator_text, tap.port))
            try:
                tap.upstream = ("127.0.0.1", int(emulator.url.rsplit(":", 1)[1]))
                run = self.check_mapi(*args_for(emulator, tap.port))
            finally:
                emulator.stop()
        if run.code != 0:
            raise RuntimeError(f"the recorded probe failed: {run.stdout.strip()}")
        return [replay.split_requests(bytes(r.sent)) for r in tap.recordings if r.sent]


def config_text_with_base(text: str, port: int) -> str:
    """``text`` with Autodiscover advertising ``http://127.0.0.1:<port>``."""
    base = f"http://127.0.0.1:{port}"
    return text.replace("[server]\n", f'[server]\ninternal_url = "{base}"\n'
                        f'external_url = "{base}"\n', 1)


def parse_json(run: Run) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run.stdout)
    return data


def perfdata(run: Run, label: str) -> float:
    """The value of ``label=<number>s`` on check_mapi's status line."""
    match = re.search(rf"(?:^|\s){re.escape(label)}=([0-9.]+)", run.stdout.split("\n", 1)[0])
    if match is None:
        raise RuntimeError(f"no {label} in: {run.stdout.strip()[:300]}")
    return float(match.group(1))


def require_ok(runs: dict[str, list[Run]], codes: dict[str, int] | None = None) -> None:
    """Every run ended as expected (0 unless ``codes`` says otherwise) and wrote nothing
    to stderr; else the case fails with the first bad run's output."""
    for name, series in runs.items():
        for run in series:
            if run.code != (codes or {}).get(name, 0) or run.stderr:
                raise RuntimeError(f"{name}: exit {run.code}: "
                                   f"{(run.stdout + run.stderr).strip()[:500]}")
