"""The entry point: arguments -> settings, the cheap paths, the last-resort guard, output.

``--help``, ``--version``, ``--explain-config`` and argument errors import neither httpx
nor the probe. Every outcome, a bug included, is an ``Evaluation`` that
the Nagios renderer writes; anticipated failures never show a Python class name (a bug's
traceback follows only with ``-vvv``). Library warnings and stray stderr writes are
swallowed: Icinga merges stderr into the plugin output.
"""

from __future__ import annotations

import io
import os
import sys
import time
import warnings

_IMPORTED = time.monotonic()  # the earliest moment measured without /proc (see deadline)

# The cheap paths (--help, --version, argument errors) import only what builds the parser
# and, once parsed, what renders an error (evaluation, output: not for --help); the option
# checks (cli.options) come after parse_args, their ipaddress/urllib/shlex only where an
# option needs them (issue 12, tests/test_startup.py).
from ..cli.extra_opts import expand_extra_opts  # noqa: E402 - after the clock reading above
from ..cli.parser import Finished, build_parser  # noqa: E402
from ..deadline import process_started  # noqa: E402
from ..errors import ConfigError, MapiError, ServiceState  # noqa: E402

REASON_LIMIT = 200  # characters of an unexpected exception's message in the status line
TRACEBACK_VERBOSITY = 3  # -vvv: the traceback of a bug in the long output

TYPE_CHECKING = False  # mypy reads this name as True; typing itself is not imported
if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping, Sequence
    from types import TracebackType
    from typing import NoReturn

    from ..evaluation import Evaluation
    from ..output.scrub import Scrubber
    from ..settings import Plan

    Outcome = tuple[tuple[Evaluation, ...], bool]  # one Evaluation per mailbox; many?


def main(argv: Sequence[str] | None = None) -> NoReturn:
    code, output = run(sys.argv[1:] if argv is None else argv,
                       started=process_started(_IMPORTED))
    write(output)
    sys.exit(code)


def write(output: str) -> None:
    """``output`` on stdout in the stream's encoding, what it cannot encode as backslash
    escapes (``\\xfc``, ``\\u2192``); never an exception, never a word on stderr.

    Why the stream's encoding and not always UTF-8: Python already writes UTF-8 under the
    C/POSIX locale monitoring daemons often run with (PEP 538/540), so the usual case is
    UTF-8 as Icinga, Nagios' web UI and Checkmk expect; an encoding other than that was
    chosen by someone (``PYTHONIOENCODING``, a Latin-1 locale) for whoever reads the
    output, and raw UTF-8 bytes would be garbage to them. Escapes keep the line ASCII-safe
    and readable where the encoding lacks a character, instead of a traceback and exit 1.
    A core that closed the pipe gets nothing: the exit code still says the state.
    """
    stream = sys.stdout
    if stream is None:  # started with stdout closed
        return
    try:
        buffer = getattr(stream, "buffer", None)
        if buffer is None:  # a text-only stream (an embedding, a test's StringIO)
            stream.write(output.encode(stream.encoding or "utf-8", "backslashreplace")
                         .decode(stream.encoding or "utf-8"))
            stream.flush()
            return
        stream.flush()
        buffer.write(output.encode(stream.encoding or "utf-8", "backslashreplace"))
        buffer.flush()
    except (OSError, ValueError, LookupError):  # a closed pipe or stream, an odd codec
        _silence(stream)


def _silence(stream: object) -> None:
    """stdout to /dev/null, so that the interpreter's own flush at exit has nowhere to fail
    (its complaint would go to stderr)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())  # type: ignore[attr-defined]
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def run(argv: Sequence[str], *, started: float | None = None,
        env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """The whole plugin run: (exit code, output). ``started`` is when ``-t`` began
    (monotonic; default now), ``env`` the environment (default os.environ)."""
    started = time.monotonic() if started is None else started
    env = os.environ if env is None else env
    plans: list[Plan] = []  # the run's settings once built: their secrets are scrubbed
    with _Quiet():
        try:
            outcome = _guarded(argv, started, env, plans)
        except Finished:  # --help or --version has been written
            return ServiceState.UNKNOWN, ""
        from ..output import nagios

        scrub = _scrubber(argv, env, plans)
        if isinstance(outcome, str):  # --explain-config: a report, not a status line
            return ServiceState.OK, scrub.text(outcome)
        evaluations = tuple(scrub.evaluation(e) for e in outcome[0])
        state = max(e.state for e in evaluations)
        if _checkmk(argv, env):
            from ..output import checkmk

            return int(state), checkmk.render(evaluations)
        if outcome[1]:
            from ..evaluate.many import summarize

            return int(state), nagios.render(scrub.evaluation(summarize(evaluations)))
        return int(state), nagios.render(evaluations[0])


SECRET_OPTIONS = ("--password", "--token", "--proxy-password")
SECRET_VARIABLES = ("CHECK_MAPI_PASSWORD", "CHECK_MAPI_TOKEN", "CHECK_MAPI_PROXY_PASSWORD",
                    "CHECK_MAPI_KEY_PASSWORD")  # cli.secrets reads them


def _scrubber(argv: Sequence[str], env: Mapping[str, str], plans: Sequence[Plan]
              ) -> Scrubber:
    """Every secret of the run: the Plan's (with the logon names they go with), and those
    of the command line and the environment, for errors raised before a Plan existed."""
    from ..output.scrub import Scrubber

    secrets = [env[name] for name in SECRET_VARIABLES if env.get(name)]
    for index, arg in enumerate(argv):
        option, equals, value = arg.partition("=")
        if option in SECRET_OPTIONS:
            secrets.append(value if equals else (argv[index + 1:index + 2] or [""])[0])
    logons: list[tuple[str, str]] = []
    for plan in plans:
        connection = plan.run.connection
        for mailbox in plan.mailboxes:
            if mailbox.auth.secret is not None:
                secrets.append(mailbox.auth.secret.value)
                logons.append((mailbox.auth.username or mailbox.address,
                               mailbox.auth.secret.value))
        if connection.proxy_secret is not None:
            secrets.append(connection.proxy_secret.value)
            logons.append((connection.proxy_user or "", connection.proxy_secret.value))
        if connection.client_key_secret is not None:
            secrets.append(connection.client_key_secret.value)
    return Scrubber(secrets, logons)


def _guarded(argv: Sequence[str], started: float, env: Mapping[str, str],
             plans: list[Plan]) -> Outcome | str:
    try:
        return _run(argv, started, env, plans)
    except ConfigError as err:
        from ..evaluation import problem

        return (problem(ServiceState.UNKNOWN, str(err)),), False
    except Finished:
        raise
    except Exception as err:  # noqa: BLE001 - the last-resort guard for bugs
        return (_internal_error(err, argv),), False


def _internal_error(err: Exception, argv: Sequence[str]) -> Evaluation:
    """A bug: UNKNOWN with a one-line reason; the traceback (file paths and all) only in
    the long output at ``-vvv``, where someone debugging asked for everything."""
    from ..evaluation import problem

    reason = " ".join(str(err).split())[:REASON_LIMIT] or "no details"
    detail: tuple[str, ...] = ()
    if _verbose(argv) >= TRACEBACK_VERBOSITY:
        import traceback  # a bug: the only path that needs it

        detail = tuple("".join(traceback.format_exception(err)).splitlines())
    return problem(ServiceState.UNKNOWN, f"internal error: {reason}", detail)


def _run(argv: Sequence[str], started: float, env: Mapping[str, str], plans: list[Plan]
         ) -> Outcome | str:
    expanded = expand_extra_opts(argv, env)
    parser = build_parser()
    args = parser.parse_args(expanded)
    if args.explain_config:  # before the probe's checks: needs no mailbox, URL or network
        return _explain_config(args)
    from ..cli.options import plan  # the arguments parsed: now check and resolve them

    def planned(namespace: argparse.Namespace) -> Plan:
        plans.append(plan(namespace, env))
        return plans[-1]

    if args.oauth_login:
        login = _oauth_login(planned(args))
        return login if isinstance(login, str) else ((login,), False)
    if args.demo:
        from .demo import demo_options, sign_in  # the emulator: only for --demo

        with demo_options(args.mailbox or [], oauth=args.auth == "oauth") as demo:
            demo_args = parser.parse_args([*expanded, *demo.options])
            # the demo's own -m (the last) or mailbox file replaces the user's -m
            demo_args.mailbox = None if demo_args.mailbox_file else demo_args.mailbox[-1:]
            settings = planned(demo_args)
            if settings.mailbox.auth.oauth:
                sign_in(demo, settings)
            return _execute(settings, started), settings.many
    settings = planned(args)
    return _execute(settings, started), settings.many


def _execute(settings: Plan, started: float) -> tuple[Evaluation, ...]:
    """The probe path, imported only now: the arguments were good (httpx)."""
    from .runner import execute

    return execute(settings, started)


def _checkmk(argv: Sequence[str], env: Mapping[str, str]) -> bool:
    """``--output checkmk`` (also for an argument error, which parsing could not finish):
    the last ``--output`` wins, as in argparse, --extra-opts included when it reads."""
    try:
        argv = expand_extra_opts(argv, env)
    except ConfigError:  # an unreadable --extra-opts file: the command line decides
        argv = list(argv)
    mode = "nagios"
    for index, arg in enumerate(argv):
        if arg == "--output" and index + 1 < len(argv):
            mode = argv[index + 1]
        elif arg.startswith("--output="):
            mode = arg.partition("=")[2]
    return mode == "checkmk"


def _oauth_login(settings: Plan) -> Evaluation | str:
    """``--oauth-login``: a report on success, else the state and reason of the failure."""
    from ..evaluation import problem
    from .login import login

    try:
        return login(settings)
    except MapiError as err:
        return problem(err.state, f"--oauth-login failed: {err}")


def _explain_config(args: argparse.Namespace) -> str:
    """``--explain-config``: what the MAPI over HTTP settings resolve to, and why."""
    from .. import resolver

    online = args.platform == resolver.EXCHANGE_ONLINE
    if args.org_mapihttp is None and args.topology is None and not online:
        raise ConfigError("--explain-config needs --org-mapihttp or --topology")
    resolution = resolver.resolve(args.org_mapihttp, args.mailbox_mapihttp,
                                  args.block_external, args.topology,
                                  mapi_enabled=args.mapi_enabled, platform=args.platform)
    lines = resolver.explain(resolution, args.vantage)
    return "".join(f"{line}\n" for line in lines)


def _verbose(argv: Sequence[str]) -> int:
    return sum(a.count("v") for a in argv if a.startswith("-") and set(a[1:]) == {"v"}
               ) + sum(1 for a in argv if a == "--verbose")


class _Quiet:
    """Warnings off and stderr captured for the run (a class: contextlib costs a start
    ~1 ms)."""

    def __enter__(self) -> None:
        self._warnings = warnings.catch_warnings()
        self._warnings.__enter__()
        warnings.simplefilter("ignore")
        self._stderr = sys.stderr
        sys.stderr = io.StringIO()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        sys.stderr = self._stderr
        self._warnings.__exit__(kind, error, trace)
        sys.stderr.flush()
