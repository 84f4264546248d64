"""The server certificates a probe met: days until the first one expires (``cert_days``)
and, for the long output, whom each is for.

The MAPI endpoint's certificate, and Autodiscover's where an Autodiscover document came
over TLS; a certificate seen at several places is listed once. A verified connection knows
its expiry (``ConnectionFacts.not_after``, from ``getpeercert()``); otherwise (--insecure),
and for the subject, issuer and names, the DER is read with ``cryptography``, imported only
then: a plain-http run, and a verified run without long output, never load it.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone
from urllib.parse import urlsplit

from ..probe.result import ProbeResult
from ..transport.facts import read_certificate
from ..values import Value, field

DAY = 86400.0


class Served(Value, frozen=False):
    """One certificate, where it was met (``places``: host and role), its verified expiry."""

    der: bytes
    verified_expiry: float | None  # epoch seconds; None: not verified (--insecure)
    places: list[tuple[str, str]] = field(default_factory=list)


def served(result: ProbeResult) -> list[Served]:
    """The certificates of the MAPI endpoint and of Autodiscover's answers, each once."""
    found: dict[bytes, Served] = {}

    def add(url: str | None, role: str, der: bytes | None, expiry: float | None) -> None:
        if der:
            entry = found.setdefault(der, Served(der, expiry))
            place = (_host(url), role)
            if place not in entry.places:
                entry.places.append(place)

    facts = result.connection
    if facts is not None:
        add(result.url, "MAPI endpoint", facts.peer_certificate, facts.not_after)
    for attempt in result.autodiscover.attempts if result.autodiscover else ():
        if attempt.connection is not None:
            add(attempt.url, "Autodiscover", attempt.connection.peer_certificate,
                attempt.connection.not_after)
    return list(found.values())


def days_left(result: ProbeResult, now: float | None = None) -> float | None:
    """Days (2 decimals, negative once expired) until the first certificate met expires;
    None when no request went over TLS (or no expiry could be read)."""
    expiries = [cert.verified_expiry if cert.verified_expiry is not None
                else _expiry(cert.der) for cert in served(result)]
    known = [e for e in expiries if e is not None]
    if not known:
        return None
    return round((min(known) - (time.time() if now is None else now)) / DAY, 2)


def certificate_lines(result: ProbeResult, now: float | None = None) -> list[str]:
    """Two lines per certificate: where and until when, then subject, issuer and SAN."""
    now = time.time() if now is None else now
    lines = []
    for cert in served(result):
        hosts: dict[str, list[str]] = {}
        for host, role in cert.places:
            hosts.setdefault(host, []).append(role)
        where = " and ".join(f"{host} ({', '.join(roles)})" for host, roles in hosts.items())
        info = read_certificate(cert.der)
        if info is None:
            lines.append(f"certificate of {where}: not readable")
            continue
        expiry = (cert.verified_expiry if cert.verified_expiry is not None
                  else info.not_after.timestamp())
        days = (expiry - now) / DAY
        left = f"{days:.1f} days left" if days >= 0 else f"expired {-days:.1f} days ago"
        checked = "" if cert.verified_expiry is not None else ", not verified (--insecure)"
        lines.append(f"certificate of {where}: valid until "
                     f"{datetime.fromtimestamp(expiry, timezone.utc):%Y-%m-%d %H:%M} UTC "
                     f"({left}){checked}")
        lines.append(f"  subject {info.subject or '(empty)'}; issuer {info.issuer or '(empty)'}"
                     f"; SAN {', '.join(info.names) or '(none)'}")
    return lines


def _expiry(der: bytes) -> float | None:
    info = read_certificate(der)
    return info.not_after.timestamp() if info is not None else None


def _host(url: str | None) -> str:
    try:
        return (urlsplit(url).hostname or url or "?") if url else "?"
    except ValueError:
        return url or "?"
