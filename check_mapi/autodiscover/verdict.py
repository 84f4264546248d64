"""Expected vs observed: what the settings (or ``--expect-protocol``) say Autodiscover should
offer, what it offers, and what follows for the check from this vantage point.

Expected: ``resolver.Resolution`` (Microsoft's table "Combining MAPI over HTTP
configurations", seed 000). Observed: the protocol of the POX answer (a ``mapiHttp`` block,
else Outlook Anywhere's EXCH/EXPR/EXHTTP blocks; [MS-OXDSCLI] 3.2.5.1) and whether it names
an external endpoint (MailStore ExternalUrl, or an EXPR block). Autodiscover answers the
same wherever it is asked from; the vantage decides which URL the probe logs on through
(auto: ExternalUrl if present, else InternalUrl, as ruler does).

* A restriction observed as configured is OK, said plainly, without a logon.
* A mismatch is configuration drift (``--drift-state``, WARNING by default); the logon
  still runs when MAPI over HTTP is offered here, and the worse of both states counts.
* Without settings, MAPI over HTTP not offered is CRITICAL unless ``--expect-protocol``
  says otherwise.

Pure: no I/O.
"""

from __future__ import annotations

from ..errors import ServiceState
from ..resolver import Protocol, Resolution, expected_from
from ..values import Value
from .pox import MapiHttpUrls, Offer, PoxAnswer

PENDING_NOTE = ("(Outlook clients pick up a changed setting only after a restart; a recent "
                "change may still be pending)")


class Endpoint(Value):
    """The emsmdb URL chosen for the vantage (None: none offered from there)."""

    url: str | None
    kind: str | None  # InternalUrl or ExternalUrl
    side: str  # the vantage in effect: internal or external
    note: str | None = None


class Verdict(Value):
    """What the comparison decided: the state, its words, and whether to log on."""

    state: ServiceState
    text: str | None  # for the status line; None: the usual "logged on" line
    endpoint: Endpoint
    logon: bool
    available: bool  # availability when no logon runs: not offered here on purpose
    notes: tuple[str, ...] = ()


def choose_endpoint(answer: PoxAnswer, vantage: str) -> Endpoint:
    """internal: InternalUrl; external: ExternalUrl; auto: ExternalUrl, else InternalUrl."""
    mapi: MapiHttpUrls | None = answer.mapi_http
    if mapi is None:
        side = vantage if vantage != "auto" else (
            "external" if answer.offer.external else "internal")
        return Endpoint(None, None, side)
    internal, external = mapi.mailstore_internal, mapi.mailstore_external
    if vantage == "external" or (vantage == "auto" and external):
        return Endpoint(external, "ExternalUrl" if external else None, "external")
    if internal:
        return Endpoint(internal, "InternalUrl", "internal")
    return Endpoint(external, "ExternalUrl", "internal",
                    "Autodiscover gives no InternalUrl; using the ExternalUrl from inside")


def judge(answer: PoxAnswer, vantage: str, drift_state: ServiceState,
          resolution: Resolution | None = None, expect: str | None = None) -> Verdict:
    """Compare the answer with the settings (or the expected protocol) from ``vantage``."""
    offer = answer.offer
    endpoint = choose_endpoint(answer, vantage)
    notes = tuple(n for n in (endpoint.note,) if n)
    if offer.protocol is None:
        return Verdict(ServiceState.CRITICAL, "Autodiscover offers neither MAPI over HTTP nor "
                       "Outlook Anywhere", endpoint, logon=False, available=False, notes=notes)
    if resolution is not None:
        return _against_settings(offer, endpoint, resolution, drift_state, notes)
    return _against_expectation(offer, endpoint, expect or "mapihttp", drift_state, notes)


def _against_settings(offer: Offer, endpoint: Endpoint, resolution: Resolution,
                      drift_state: ServiceState, notes: tuple[str, ...]) -> Verdict:
    notes += (f"expected {resolution.text}", f"observed: Autodiscover offers {offer.text}")
    mapi_here = offer.protocol is Protocol.MAPI_HTTP and endpoint.url is not None
    if resolution.blocked:
        return Verdict(drift_state, f"configuration drift: settings resolve to "
                       f"{resolution.summary} but Autodiscover offers {offer.text}", endpoint,
                       logon=mapi_here, available=True, notes=(*notes, PENDING_NOTE))
    if (offer.protocol, offer.external) == (resolution.protocol, resolution.external):
        if offer.protocol is Protocol.OUTLOOK_ANYWHERE:
            reach = "" if offer.external else " (internal only)"
            return Verdict(ServiceState.OK, "MAPI over HTTP disabled for this mailbox as "
                           f"configured; Autodiscover offers Outlook Anywhere{reach}", endpoint,
                           logon=False, available=True, notes=notes)
        if not mapi_here:
            return Verdict(ServiceState.OK, "internal only as configured; not offered "
                           "externally", endpoint, logon=False, available=True, notes=notes)
        return Verdict(ServiceState.OK, None, endpoint, logon=True, available=True,
                       notes=notes)
    theirs = ("Outlook Anywhere only" if resolution.protocol is Protocol.MAPI_HTTP
              and offer.protocol is Protocol.OUTLOOK_ANYWHERE else offer.text)
    text = (f"configuration drift: settings resolve to {resolution.protocol.value} "
            f"({resolution.reach.value}) but Autodiscover offers {theirs}")
    wanted_here = expected_from(resolution, endpoint.side) is Protocol.MAPI_HTTP
    return Verdict(drift_state, text, endpoint, logon=mapi_here,
                   available=mapi_here or not wanted_here,
                   notes=(*notes, PENDING_NOTE))


def _against_expectation(offer: Offer, endpoint: Endpoint, expect: str,
                         drift_state: ServiceState, notes: tuple[str, ...]) -> Verdict:
    if offer.protocol is Protocol.OUTLOOK_ANYWHERE:
        if expect == "mapihttp":
            return Verdict(ServiceState.CRITICAL, "MAPI over HTTP not offered: Autodiscover "
                           "offers Outlook Anywhere only", endpoint, logon=False,
                           available=False, notes=notes)
        said = "as expected" if expect == "outlook-anywhere" else "MAPI over HTTP not offered"
        return Verdict(ServiceState.OK, f"Autodiscover offers {offer.text}; {said}", endpoint,
                       logon=False, available=True, notes=notes)
    if expect == "outlook-anywhere":
        return Verdict(drift_state, "configuration drift: Outlook Anywhere expected "
                       f"(--expect-protocol) but Autodiscover offers {offer.text}", endpoint,
                       logon=endpoint.url is not None, available=True,
                       notes=(*notes, PENDING_NOTE))
    if endpoint.url is None:
        if expect == "any":
            return Verdict(ServiceState.OK, "MAPI over HTTP internal only; not offered "
                           "externally", endpoint, logon=False, available=True, notes=notes)
        return Verdict(ServiceState.CRITICAL, "MAPI over HTTP not offered externally: "
                       "Autodiscover gives no ExternalUrl (internal only)", endpoint,
                       logon=False, available=False, notes=notes)
    return Verdict(ServiceState.OK, None, endpoint, logon=True, available=True, notes=notes)
