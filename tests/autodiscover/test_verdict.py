"""Expected vs observed, as a pure function: every kind of answer against settings, against
--expect-protocol, and from each vantage."""

from __future__ import annotations

import pytest

from check_mapi.autodiscover.pox import MapiHttpUrls, PoxAnswer
from check_mapi.autodiscover.verdict import PENDING_NOTE, Endpoint, choose_endpoint, judge
from check_mapi.errors import ServiceState
from check_mapi.resolver import resolve

OK, WARNING, CRITICAL = ServiceState.OK, ServiceState.WARNING, ServiceState.CRITICAL
IN, OUT = "https://in/mapi/emsmdb/", "https://out/mapi/emsmdb/"


def mapi(internal: bool = True, external: bool = True) -> PoxAnswer:
    return PoxAnswer(action="settings", legacy_dn="/o=x", mapi_http=MapiHttpUrls(
        "1", IN if internal else None, OUT if external else None))


def oa(external: bool = True) -> PoxAnswer:
    return PoxAnswer(action="settings", legacy_dn="/o=x",
                     legacy=("EXCH", "EXPR") if external else ("EXCH",))


@pytest.mark.parametrize(("answer", "vantage", "endpoint"), [
    (mapi(), "auto", Endpoint(OUT, "ExternalUrl", "external")),
    (mapi(), "internal", Endpoint(IN, "InternalUrl", "internal")),
    (mapi(), "external", Endpoint(OUT, "ExternalUrl", "external")),
    (mapi(external=False), "auto", Endpoint(IN, "InternalUrl", "internal")),
    (mapi(external=False), "external", Endpoint(None, None, "external")),
    (mapi(internal=False), "internal", Endpoint(
        OUT, "ExternalUrl", "internal",
        "Autodiscover gives no InternalUrl; using the ExternalUrl from inside")),
    (oa(), "auto", Endpoint(None, None, "external")),
    (oa(external=False), "auto", Endpoint(None, None, "internal")),
    (oa(), "internal", Endpoint(None, None, "internal")),
])
def test_choose_endpoint(answer: PoxAnswer, vantage: str, endpoint: Endpoint) -> None:
    assert choose_endpoint(answer, vantage) == endpoint


DISABLED = ("MAPI over HTTP disabled for this mailbox as configured; Autodiscover offers "
            "Outlook Anywhere")
INTERNAL_ONLY = "internal only as configured; not offered externally"


def drift(expected: str, offered: str) -> str:
    return f"configuration drift: settings resolve to {expected} but Autodiscover offers {offered}"


# (settings: org, mailbox, block), answer, vantage -> state, text, logon, available
SETTINGS_CASES = [
    (("true", None, None), mapi(), "external", OK, None, True, True),
    (("true", None, None), mapi(), "internal", OK, None, True, True),
    (("true", None, "true"), mapi(external=False), "internal", OK, None, True, True),
    (("true", None, "true"), mapi(external=False), "external", OK, INTERNAL_ONLY, False, True),
    (("true", None, "true"), mapi(external=False), "auto", OK, None, True, True),
    (("false", None, None), oa(), "internal", OK, DISABLED, False, True),
    (("false", None, "true"), oa(external=False), "external", OK, f"{DISABLED} (internal only)",
     False, True),
    (("true", None, None), oa(), "internal", WARNING,
     drift("MAPI over HTTP (internal and external)", "Outlook Anywhere only"), False, False),
    (("true", None, "true"), oa(external=False), "external", WARNING,
     drift("MAPI over HTTP (internal only)", "Outlook Anywhere only"), False, True),
    (("true", None, None), mapi(external=False), "external", WARNING,
     drift("MAPI over HTTP (internal and external)", "MAPI over HTTP (internal only)"), False,
     False),
    (("true", None, None), mapi(external=False), "internal", WARNING,
     drift("MAPI over HTTP (internal and external)", "MAPI over HTTP (internal only)"), True,
     True),
    (("true", None, "true"), mapi(), "external", WARNING,
     drift("MAPI over HTTP (internal only)", "MAPI over HTTP (internal and external)"), True,
     True),
    (("false", None, None), mapi(), "internal", WARNING,
     drift("Outlook Anywhere (internal and external)", "MAPI over HTTP (internal and external)"),
     True, True),
    (("false", None, "true"), oa(), "internal", WARNING,
     drift("Outlook Anywhere (internal only)", "Outlook Anywhere (internal and external)"),
     False, True),
]


@pytest.mark.parametrize(("settings", "answer", "vantage", "state", "text", "logon",
                          "available"), SETTINGS_CASES)
def test_against_settings(settings: tuple[str | None, ...], answer: PoxAnswer, vantage: str,
                          state: ServiceState, text: str | None, logon: bool,
                          available: bool) -> None:
    resolution = resolve(*settings)
    verdict = judge(answer, vantage, WARNING, resolution)
    assert (verdict.state, verdict.text, verdict.logon, verdict.available) == (
        state, text, logon, available)
    assert verdict.notes[:2] == (f"expected {resolution.text}",
                                 f"observed: Autodiscover offers {answer.offer.text}")
    assert (PENDING_NOTE in verdict.notes) is (state is WARNING)


def test_drift_state_is_configurable() -> None:
    verdict = judge(oa(), "internal", CRITICAL, resolve("true"))
    assert verdict.state is CRITICAL


EXPECT_CASES = [
    (None, mapi(), "external", OK, None, True, True),
    (None, oa(), "internal", CRITICAL, "MAPI over HTTP not offered: Autodiscover offers "
                                       "Outlook Anywhere only", False, False),
    (None, mapi(external=False), "external", CRITICAL, "MAPI over HTTP not offered externally: "
     "Autodiscover gives no ExternalUrl (internal only)", False, False),
    ("mapihttp", oa(), "auto", CRITICAL, "MAPI over HTTP not offered: Autodiscover offers "
                                         "Outlook Anywhere only", False, False),
    ("outlook-anywhere", oa(), "auto", OK, "Autodiscover offers Outlook Anywhere (internal and "
                                           "external); as expected", False, True),
    ("outlook-anywhere", mapi(), "auto", WARNING, "configuration drift: Outlook Anywhere "
     "expected (--expect-protocol) but Autodiscover offers MAPI over HTTP (internal and "
     "external)", True, True),
    ("any", oa(external=False), "auto", OK, "Autodiscover offers Outlook Anywhere (internal "
                                            "only); MAPI over HTTP not offered", False, True),
    ("any", mapi(external=False), "external", OK, "MAPI over HTTP internal only; not offered "
                                                  "externally", False, True),
    ("any", mapi(), "internal", OK, None, True, True),
]


@pytest.mark.parametrize(("expect", "answer", "vantage", "state", "text", "logon", "available"),
                         EXPECT_CASES)
def test_against_expectation(expect: str | None, answer: PoxAnswer, vantage: str,
                             state: ServiceState, text: str | None, logon: bool,
                             available: bool) -> None:
    verdict = judge(answer, vantage, WARNING, expect=expect)
    assert (verdict.state, verdict.text, verdict.logon, verdict.available) == (
        state, text, logon, available)


@pytest.mark.parametrize("settings", [None, resolve("true")])
def test_neither_protocol_is_critical(settings: object) -> None:
    verdict = judge(PoxAnswer(action="settings"), "auto", WARNING, settings)  # type: ignore[arg-type]
    assert (verdict.state, verdict.text, verdict.logon, verdict.available) == (
        CRITICAL, "Autodiscover offers neither MAPI over HTTP nor Outlook Anywhere", False,
        False)
