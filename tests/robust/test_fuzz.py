"""Hypothesis mutates one real server answer per run (issue 14): whatever a server sends, the
plugin ends with exit 0, 1 or 2, one status line starting ``MAPI ``, no "internal error" and
no traceback, and a CRITICAL names the step that failed.

The answers are the emulator's own, recorded once through ``FuzzServer`` (Autodiscover v2
JSON, the POX XML, Connect, the Execute of RopLogon, the Execute that reads the Inbox,
Disconnect; over https, as v2 requires); each run replays them with ONE target's bytes
mutated: flipped, inserted, deleted, replaced, truncated, or a header given a hostile value.
The plugin runs in-process (``run``), a run takes tens of milliseconds.

What is acceptable: CRITICAL (2) naming a step at or after the mutated one; OK (0) or
WARNING (1) only when the mutation left an answer the plugin may accept (a changed subject
byte, an unknown header, a shorter ``X-ElapsedTime``...) and the status line then is a
normal one. UNKNOWN (3) is for the user's input, never for a server's answer.

Memory and time on hostile sizes are the bomb tests' job (test_bodies.py); here each run
must end well within its ``-t``. Profiles: ``QUICK`` examples per target in the default run;
``-m fuzz_long`` runs ``CHECK_MAPI_FUZZ_EXAMPLES`` (default 10 000) per target.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import ssl
import struct
import time
from collections.abc import Callable, Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from check_mapi.emulator import Emulator, loads
from check_mapi.plugin.main import run

from ..conftest import Tls
from ..robust_input.conftest import PASSWORD, SMTP, emulator_config
from .fuzz_server import STEPS, Answer, FuzzServer, loopback_only

QUICK = 25
LONG = int(os.environ.get("CHECK_MAPI_FUZZ_EXAMPLES", "10000"))
TIMEOUT = 10  # -t of each run
WALL = 5.0  # a run over loopback with every answer already there: milliseconds
STEP_NAMES = ("autodiscover", "connect", "logon", "inbox", "disconnect")
HOSTILE = ["", " ", "\t", "²", "٣", "-1", "4294967296", "99999999999999999999", "0x10", "1e9",
           "NaN", "gzip", "deflate", "gzip, gzip", "br", "identity", "chunked", "x, chunked",
           "\x00", "é", "日本", "\x7f", "a=b; Path=/; Domain=evil", "=", ";;;", "MapiContext=",
           "MAPI OK - fake | availability=1", "%s%n", "A" * 5000, "application/json",
           "text/xml; charset=x-nonexistent", "https://evil.example/", "/", "0", "1", "15"]
HEADERS = ["Content-Encoding", "X-ResponseCode", "Set-Cookie", "Content-Type", "Content-Length",
           "Transfer-Encoding", "X-RequestId", "X-RequestType", "Location", "X-PendingPeriod",
           "X-ElapsedTime", "WWW-Authenticate"]

Mutate = Callable[[Answer], st.SearchStrategy[bytes]]


# -- the mutations ---------------------------------------------------------------------

def hostile_text() -> st.SearchStrategy[str]:
    return st.one_of(st.sampled_from(HOSTILE), st.text(max_size=40),
                     st.binary(max_size=40).map(lambda b: b.decode("latin-1")))


@st.composite
def mutated(draw: st.DrawFn, data: bytes) -> bytes:
    """``data`` after one to four byte edits (positions wrap around its length)."""
    out = bytearray(data)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, 1 << 16)) % (len(out) + 1)
        kind = draw(st.sampled_from(["flip", "insert", "delete", "replace", "truncate"]))
        if kind == "flip" and at < len(out):
            out[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "insert":
            out[at:at] = draw(st.one_of(st.binary(min_size=1, max_size=16),
                                        hostile_text().map(lambda t: t.encode())))
        elif kind == "delete":
            del out[at:at + draw(st.integers(1, 16))]
        elif kind == "replace":
            piece = draw(st.binary(min_size=1, max_size=8))
            out[at:at + len(piece)] = piece
        elif kind == "truncate":
            del out[at:]
    return bytes(out)


def whole_head(answer: Answer) -> st.SearchStrategy[bytes]:
    """The status line and headers mutated as bytes, sent with their own framing."""
    head = answer.head() + b"Content-Length: %d\r\n" % len(answer.body)
    return mutated(head).map(lambda h: h + b"\r\n" + answer.body)


@st.composite
def _header(draw: st.DrawFn, answer: Answer) -> bytes:
    name = draw(st.sampled_from(HEADERS)).encode()
    value = draw(hostile_text()).encode("utf-8")
    fields = [f for f in answer.headers if draw(st.booleans())
              or f[0].lower() != name.lower()]  # the original kept, dropped or both
    fields.insert(draw(st.integers(0, len(fields))), (name, value))
    return Answer(answer.status, fields, answer.body).encode()


def header_value(answer: Answer) -> st.SearchStrategy[bytes]:
    return _header(answer)


def _split_meta(body: bytes) -> tuple[bytes, bytes]:
    at = body.index(b"\r\n\r\n") + 4
    return body[:at], body[at:]


def meta_tags(answer: Answer) -> st.SearchStrategy[bytes]:
    """The MAPI inner stream's PROCESSING/DONE and X- lines, the binary body kept."""
    meta, rest = _split_meta(answer.body)
    return mutated(meta).map(lambda m: answer.encode(m + rest))


def region(start: Callable[[bytes], int], end: Callable[[bytes], int]) -> Mutate:
    """A mutation of the MAPI body (after the meta-tags) between ``start`` and ``end``."""
    def mutate(answer: Answer) -> st.SearchStrategy[bytes]:
        meta, rest = _split_meta(answer.body)
        a, b = start(rest), end(rest)
        return mutated(rest[a:b]).map(lambda m: answer.encode(meta + rest[:a] + m + rest[b:]))
    return mutate


def _rop_size(rest: bytes) -> int:
    """Execute body: 4 u32, then RPC_HEADER_EXT (8 bytes), then RopSize (u16): where the
    handle table starts."""
    return 24 + int(struct.unpack_from("<H", rest, 24)[0])


def _payload_end(rest: bytes) -> int:
    return 24 + int(struct.unpack_from("<H", rest, 20)[0])


body = region(lambda r: 0, len)
rops = region(lambda r: 26, _rop_size)
handles = region(_rop_size, _payload_end)


def xml_text(answer: Answer) -> st.SearchStrategy[bytes]:
    """One element's text of the POX answer replaced with hostile text (escaped or raw)."""
    texts = list(re.finditer(rb">([^<>]+)<", answer.body))

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        match = draw(st.sampled_from(texts))
        text = draw(hostile_text()).encode("utf-8")
        if draw(st.booleans()):
            text = text.replace(b"&", b"&amp;").replace(b"<", b"&lt;")
        return answer.encode(answer.body[:match.start(1)] + text + answer.body[match.end(1):])
    return build()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | hostile_text(),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.sampled_from(["Protocol", "Url", "ErrorCode",
                                                       "ErrorMessage"]) | st.text(max_size=5),
                                      inner, max_size=4), max_leaves=8)


def json_value(answer: Answer) -> st.SearchStrategy[bytes]:
    """The v2 answer's document, or one of its values, replaced with any JSON."""
    document = json.loads(answer.body)

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        value = draw(JSON)
        if draw(st.booleans()):
            value = {**document, draw(st.sampled_from(sorted(document))): value}
        return answer.encode(json.dumps(value).encode())
    return build()


def raw_bytes(answer: Answer) -> st.SearchStrategy[bytes]:
    return mutated(answer.body).map(answer.encode)


# Target: (step, mutation). Every step's head and headers; each body kind; the rest.
TARGETS: dict[str, tuple[str, Mutate]] = {
    **{f"{step}-head": (step, whole_head) for step in STEPS},
    **{f"{step}-header": (step, header_value) for step in STEPS},
    **{f"{step}-meta": (step, meta_tags) for step in STEPS[2:]},
    **{f"{step}-body": (step, body) for step in ("connect", "disconnect")},
    **{f"{step}-rops": (step, rops) for step in ("logon", "inbox")},
    **{f"{step}-handles": (step, handles) for step in ("logon", "inbox")},
    "autodiscover-xml-bytes": ("autodiscover", raw_bytes),
    "autodiscover-xml-text": ("autodiscover", xml_text),
    "autodiscover_v2-json-bytes": ("autodiscover_v2", raw_bytes),
    "autodiscover_v2-json-value": ("autodiscover_v2", json_value),
}


# -- the rig and the verdict -----------------------------------------------------------

class Rig:
    def __init__(self, server: FuzzServer, ca_file: str) -> None:
        self.server = server
        self.reported = False  # a finding was printed already
        self.argv = ["--password", PASSWORD, "-m", SMTP, "--auth", "basic", "-t", str(TIMEOUT),
                     "--ca-file", ca_file, "--autodiscover-url",
                     f"{server.url}/autodiscover/autodiscover.json"]

    def run(self, step: str | None, data: bytes = b"") -> tuple[int, str, float]:
        self.server.arm(step, data)
        started = time.monotonic()
        with loopback_only(), contextlib.redirect_stderr(io.StringIO()) as stderr:
            code, output = run(self.argv, env={})
        if stderr.getvalue():
            output += f"\n[stderr] {stderr.getvalue()}"  # "[stderr]" fails the check
        return code, output, time.monotonic() - started


@pytest.fixture(scope="module")
def rig(tls: Tls) -> Iterator[Rig]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(str(tls.cert_pem), str(tls.key_pem))
    server = FuzzServer(context)
    advertised = f'internal_url = "{server.url}"\nexternal_url = "{server.url}"\n'
    emulator = Emulator(loads(emulator_config(server=advertised))).start()
    try:
        rig = Rig(server, str(tls.ca_pem))
        server.record(emulator.url)
        code, output, _ = rig.run(None)
        server.replay()
    finally:
        emulator.stop()
    assert code == 0 and set(server.recorded) == set(STEPS), output
    code, output, _ = rig.run(None)  # the replay alone is a good mailbox
    assert code == 0 and output.startswith(f"MAPI OK - {SMTP} logged on"), output
    yield rig
    server.close()


def _step_named(first: str) -> str:
    """The step a CRITICAL line blames: "<step> failed: ...", or Autodiscover's verdict on
    what it offers (autodiscover/verdict.py: "Autodiscover offers neither ...")."""
    head = rf"MAPI CRITICAL - {re.escape(SMTP)}: "
    if failed := re.match(head + r"(\w+) failed: \S", first):
        return failed[1]
    if re.match(head + r"(Autodiscover offers|configuration drift: )", first):
        return "autodiscover"
    return ""


def problems(target_step: str, code: int, output: str, elapsed: float) -> list[str]:
    """What is wrong with one run whose ``target_step`` answer was mutated."""
    first = output.splitlines()[0] if output else ""
    found = []
    if code not in (0, 1, 2):
        found.append(f"exit {code}")
    if not first.startswith("MAPI "):
        found.append("no status line")
    if "internal error" in output or "Traceback" in output:
        found.append("internal error")
    if "\n[stderr] " in output:
        found.append("stderr not empty")
    if elapsed > WALL:
        found.append(f"took {elapsed:.1f} s")
    step = target_step.removesuffix("_v2")
    if code == 2:
        named = _step_named(first)
        if named not in STEP_NAMES:
            found.append("no failing step named")
        elif STEP_NAMES.index(named) < STEP_NAMES.index(step):
            found.append(f"{named} named, {step} mutated")
    elif code in (0, 1) and not re.match(rf"MAPI (OK|WARNING) - {re.escape(SMTP)}[: ]", first):
        found.append("not a normal status line")
    return found


def check(rig: Rig, target: str, data: bytes) -> None:
    step = TARGETS[target][0]
    code, output, elapsed = rig.run(step, data)
    for _ in range(2):  # a loaded machine can starve one run; a real wait repeats itself
        if elapsed <= WALL:
            break
        code, output, elapsed = rig.run(step, data)
    found = problems(step, code, output, elapsed)
    if found and not rig.reported:  # a long run's first finding, seen at once with -s
        rig.reported = True
        print(f"\nFINDING {target}: {', '.join(found)}\nanswer: {data[:3000]!r}\n{output}",
              flush=True)
    assert not found, f"{target}: {', '.join(found)}\nanswer: {data[:3000]!r}\n{output}"


def fuzz(rig: Rig, target: str, examples: int) -> None:
    """``examples`` runs for ``target``; its figures on stdout (seen with ``-s``)."""
    step, mutate = TARGETS[target]
    runs = [0]
    started = time.monotonic()

    @settings(max_examples=examples, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(data=mutate(rig.server.recorded[step]))
    def one(data: bytes) -> None:
        runs[0] += 1
        check(rig, target, data)

    try:
        one()
    finally:
        print(f"\nfuzz {target}: {runs[0]} runs in {time.monotonic() - started:.0f} s")


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_quick(rig: Rig, target: str) -> None:
    fuzz(rig, target, QUICK)


@pytest.mark.fuzz_long
@pytest.mark.parametrize("target", sorted(TARGETS))
def test_fuzz_long(rig: Rig, target: str) -> None:
    fuzz(rig, target, LONG)


def _with_header(name: bytes, value: bytes) -> Callable[[Answer], bytes]:
    return lambda a: Answer(a.status, [*a.headers, (name, value)], a.body).encode()


def _logon_output_handle(index: int) -> Callable[[Answer], bytes]:
    def build(answer: Answer) -> bytes:
        meta, rest = _split_meta(answer.body)
        assert rest[26] == 0xFE  # RopLogon, then its OutputHandleIndex
        return answer.encode(meta + rest[:27] + bytes([index]) + rest[28:])
    return build


# The findings, as answers of this harness: each was an "internal error" once. Now
# CRITICAL naming the step, but a cookie that cannot be sent back is dropped (session.py).
# And the long profile's finds: "pox-no-protocol-type" (a verdict, not "<step> failed").
FOUND: dict[str, tuple[str, Callable[[Answer], bytes]]] = {
    "x-responsecode-superscript": ("connect", lambda a: Answer(
        a.status, [(k, "²".encode() if k == b"x-responsecode" else v) for k, v in a.headers],
        a.body).encode()),
    "x-responsecode-arabic-digit": ("logon", lambda a: Answer(
        a.status, [(k, "٣".encode() if k == b"x-responsecode" else v) for k, v in a.headers],
        a.body).encode()),
    "set-cookie-non-ascii": ("connect", _with_header(b"Set-Cookie", "MapiContext=é日".encode())),
    "logon-output-handle-out-of-range": ("logon", _logon_output_handle(0xFF)),
    "v2-json-nested": ("autodiscover_v2", lambda a: a.encode(b"[" * 100_000 + b"]" * 100_000)),
    "pox-no-protocol-type": ("autodiscover", lambda a: a.encode(a.body.replace(
        b'<Protocol Type="mapiHttp"', b'<Protocol Uype="mapiHttp"', 1))),  # a verdict, fine
    "pox-unknown-encoding": ("autodiscover", lambda a: a.encode(a.body.replace(
        b'encoding="utf-8"', b'encoding="x-nonexistent"', 1))),
}


@pytest.mark.parametrize("name", sorted(FOUND))
def test_known_hostile_answers(rig: Rig, name: str) -> None:
    step, build = FOUND[name]
    code, output, elapsed = rig.run(step, build(rig.server.recorded[step]))
    assert not problems(step, code, output, elapsed), output
    assert code == (0 if name == "set-cookie-non-ascii" else 2), output


@pytest.mark.parametrize(("step", "code", "output", "expected"), [
    ("logon", 2, f"MAPI CRITICAL - {SMTP}: logon failed: RopLogon: x", []),
    ("logon", 2, f"MAPI CRITICAL - {SMTP}: connect failed: x",
     ["connect named, logon mutated"]),
    ("connect", 3, "MAPI UNKNOWN - internal error: boom", ["exit 3", "internal error"]),
    ("inbox", 2, "MAPI CRITICAL - x", ["no failing step named"]),
    ("inbox", 0, "Traceback (most recent call last):",
     ["no status line", "internal error", "not a normal status line"]),
    ("inbox", 0, f"MAPI OK - {SMTP} logged on\n[stderr] oops", ["stderr not empty"]),
])
def test_the_verdict_can_fail(step: str, code: int, output: str, expected: list[str]) -> None:
    assert problems(step, code, output, 0.1) == expected
