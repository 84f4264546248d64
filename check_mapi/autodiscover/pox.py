"""Autodiscover messages: the POX request, a safe parser for its answer, and v2 JSON.

POX request and response: [MS-OXDSCLI] 2.2.3/2.2.4 (mapi-http.md 5.2, 5.3). The mapiHttp
``Protocol`` block carries ``Type``/``Version`` as attributes and MailStore/AddressBook URLs
([MS-OXDSCLI] 2.2.4.1.1.2.6); the legacy Outlook Anywhere blocks name their kind in a
``Type`` child element (EXCH, EXPR, EXHTTP; 5.4). v2 JSON: mapi-http.md 5.7.

Pure: no I/O. The parser refuses any DOCTYPE (so no entity, internal or external, is
ever declared or expanded) and bodies above ``MAX_RESPONSE`` are refused by the caller
before they get here; every problem is an ``AutodiscoverError`` with a one-line reason.
"""

from __future__ import annotations

import json
import xml.parsers.expat
from collections.abc import Iterator
from typing import NoReturn

from ..errors import ProtocolError
from ..resolver import Protocol, Reach
from ..values import Value

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_SCHEMA = ("http://schemas.microsoft.com/exchange/autodiscover/outlook/"
                   "responseschema/2006a")
MAX_RESPONSE = 512 * 1024  # real answers are a few KiB; anything far larger is refused
LEGACY_TYPES = ("EXCH", "EXPR", "EXHTTP")  # Outlook Anywhere (RPC over HTTP) blocks


class AutodiscoverError(ProtocolError):
    """Autodiscover gave no usable answer (CRITICAL); ``str()`` is the one-line reason."""


def pox_request(address: str) -> bytes:
    """The POX request body for ``address`` ([MS-OXDSCLI] 2.2.3; as ruler and Outlook send)."""
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<Autodiscover xmlns="{REQUEST_NS}">\n'
            f"  <Request>\n"
            f"    <EMailAddress>{_escape(address)}</EMailAddress>\n"
            f"    <AcceptableResponseSchema>{RESPONSE_SCHEMA}</AcceptableResponseSchema>\n"
            f"  </Request>\n"
            f"</Autodiscover>\n").encode()


def _escape(text: str) -> str:
    """``html.escape``: that module's entity table costs a start ~2.5 ms, xml.sax.saxutils
    would load urllib.request (~20 ms)."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;").replace("'", "&#x27;"))


def pox_headers(address: str) -> list[tuple[str, str]]:
    """X-MapiHttpCapability: without it no mapiHttp block comes back ([MS-OXDSCLI] 3.2.5.1);
    X-AnchorMailbox routes the request to the mailbox's server (left out for an address no
    header can carry: ``auth.identity``); X-ClientCanHandle as Outlook."""
    from ..auth.identity import header_address  # the caller has loaded auth already

    anchor = header_address(address)
    return [("Content-Type", "text/xml; charset=utf-8"), ("X-MapiHttpCapability", "1"),
            *([("X-AnchorMailbox", anchor)] if anchor else []),
            ("X-ClientCanHandle", "Negotiate, ExHttpInfo")]


def one_line(text: str, limit: int = 200) -> str:
    """Server text for a message: control characters (line breaks among them) as spaces,
    runs of spaces as one, at most ``limit`` characters."""
    shown = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return shown if len(shown) <= limit else shown[:limit] + "..."


class MapiHttpUrls(Value):
    """``Protocol[@Type='mapiHttp']``: the EMSMDB (MailStore) and NSPI (AddressBook) URLs."""

    version: str
    mailstore_internal: str | None
    mailstore_external: str | None
    addressbook_internal: str | None = None
    addressbook_external: str | None = None


class PoxAnswer(Value):
    """What the probe uses from a POX answer (mapi-http.md 5.3)."""

    action: str | None = None  # settings, redirectAddr, redirectUrl
    redirect: str | None = None  # RedirectAddr or RedirectUrl
    display_name: str | None = None
    legacy_dn: str | None = None
    smtp: str | None = None  # AutoDiscoverSMTPAddress
    mapi_http: MapiHttpUrls | None = None
    legacy: tuple[str, ...] = ()  # Outlook Anywhere block types, in document order
    microsoft_online: bool | None = None
    error_code: str | None = None
    error_message: str | None = None

    @property
    def offer(self) -> Offer:
        """What this answer offers Outlook, in the words of Microsoft's table."""
        if self.mapi_http is not None:
            return Offer(Protocol.MAPI_HTTP, self.mapi_http.mailstore_internal is not None,
                         self.mapi_http.mailstore_external is not None)
        if self.legacy:
            return Offer(Protocol.OUTLOOK_ANYWHERE, "EXCH" in self.legacy or "EXHTTP" in
                         self.legacy, "EXPR" in self.legacy)
        return Offer(None, internal=False, external=False)


class Offer(Value):
    """The protocol Autodiscover offers, and whether it names internal/external endpoints.

    For MAPI over HTTP: MailStore InternalUrl/ExternalUrl. For Outlook Anywhere: EXCH
    (internal) and EXPR (external, "Outlook Anywhere" proper) blocks.
    """

    protocol: Protocol | None
    internal: bool
    external: bool

    @property
    def reach(self) -> Reach:
        return Reach.INTERNAL_AND_EXTERNAL if self.external else Reach.INTERNAL_ONLY

    @property
    def text(self) -> str:
        if self.protocol is None:
            return "neither MAPI over HTTP nor Outlook Anywhere"
        return f"{self.protocol.value} ({self.reach.value})"


class _RefusedError(Exception):
    """Raised from an expat handler to stop at a DOCTYPE or an entity declaration."""


def _refuse(*args: object) -> NoReturn:
    raise _RefusedError


class Element:
    """An element of a parsed answer: its tag (``{namespace}local``), attributes, text
    before its first child, and children. What the parser reads of ElementTree's API,
    without xml.etree (~4 ms at every Autodiscover start)."""

    __slots__ = ("_parts", "attrib", "children", "tag", "text")

    def __init__(self, tag: str, attrib: dict[str, str]) -> None:
        self.tag, self.attrib = tag, attrib
        self.text: str | None = None
        self.children: list[Element] = []
        self._parts: list[str] = []  # joined once at the end tag: never quadratic

    def __iter__(self) -> Iterator[Element]:
        return iter(self.children)

    def get(self, key: str) -> str | None:
        return self.attrib.get(key)


class _Builder:
    """expat's callbacks -> Elements (as ElementTree's TreeBuilder; tails are dropped)."""

    def __init__(self) -> None:
        self.root: Element | None = None
        self.open: list[Element] = []

    def start(self, name: str, attrs: dict[str, str]) -> None:
        element = Element(_qname(name), {_qname(k): v for k, v in attrs.items()})
        if self.open:
            self.open[-1].children.append(element)
        else:
            self.root = element
        self.open.append(element)

    def end(self, _name: str) -> None:
        element = self.open.pop()
        element.text = "".join(element._parts) if element._parts else None
        element._parts = []

    def data(self, text: str) -> None:
        if self.open and not self.open[-1].children:  # text before the first child only
            self.open[-1]._parts.append(text)


def parse_xml(raw: bytes) -> Element:
    """Parse with expat, refusing DOCTYPE, entity declarations and external entities.

    Without a DOCTYPE no entity can be declared, so neither entity expansion ("billion
    laughs") nor external entities (XXE) are possible; expat itself refuses references to
    undeclared entities. Any encoding expat knows is accepted, so no byte scan is needed.
    """
    builder = _Builder()
    parser = xml.parsers.expat.ParserCreate(namespace_separator="}")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    parser.StartDoctypeDeclHandler = _refuse
    parser.EntityDeclHandler = _refuse
    parser.ExternalEntityRefHandler = _refuse
    parser.buffer_text = True  # one callback per run of text, not one per line or entity
    parser.StartElementHandler = builder.start
    parser.EndElementHandler = builder.end
    parser.CharacterDataHandler = builder.data
    try:
        parser.Parse(raw, True)
    except LookupError:  # the XML declaration names an encoding Python does not know
        raise AutodiscoverError("malformed Autodiscover XML: unknown encoding declared") \
            from None
    except _RefusedError:
        raise AutodiscoverError("Autodiscover response refused: it declares a DOCTYPE or "
                                "entities (XML entity attack?)") from None
    except xml.parsers.expat.ExpatError as err:
        raise AutodiscoverError(f"malformed Autodiscover XML: "
                                f"{xml.parsers.expat.ErrorString(err.code)} at line "
                                f"{err.lineno}, column {err.offset}") from None
    if builder.root is None:  # expat refuses a document without an element already
        raise AutodiscoverError("malformed Autodiscover XML: no element found")
    return builder.root


def _qname(name: str) -> str:
    return "{" + name if "}" in name else name


def _local(element: Element) -> str:
    return element.tag.rpartition("}")[2]


def _child(parent: Element | None, name: str) -> Element | None:
    """The first child with this local name (the two response namespaces both occur)."""
    if parent is None:
        return None
    return next((c for c in parent if _local(c) == name), None)


def _text(parent: Element | None, name: str) -> str | None:
    found = _child(parent, name)
    text = (found.text or "").strip() if found is not None else ""
    return text or None


def parse_pox(raw: bytes) -> PoxAnswer:
    """A POX answer ([MS-OXDSCLI] 2.2.4) -> PoxAnswer; AutodiscoverError if it is none."""
    root = parse_xml(raw)
    if _local(root) != "Autodiscover":
        raise AutodiscoverError(f"not an Autodiscover response (root element {_local(root)})")
    response = _child(root, "Response")
    if response is None:
        raise AutodiscoverError("Autodiscover response without a Response element")
    error = _child(response, "Error")
    if error is not None:
        message = _text(error, "Message")
        return PoxAnswer(error_code=one_line(_text(error, "ErrorCode") or "(none)", 40),
                         error_message=one_line(message) if message else None)
    user, account = _child(response, "User"), _child(response, "Account")
    if account is None:
        raise AutodiscoverError("Autodiscover response without an Account element")
    action = _text(account, "Action")
    redirect = _text(account, "RedirectAddr") or _text(account, "RedirectUrl")
    online = _text(account, "MicrosoftOnline")
    protocols = [p for p in account if _local(p) == "Protocol"]
    return PoxAnswer(
        action=action, redirect=redirect, display_name=_text(user, "DisplayName"),
        legacy_dn=_text(user, "LegacyDN"), smtp=_text(user, "AutoDiscoverSMTPAddress"),
        mapi_http=_mapi_http(protocols),
        legacy=tuple(t for p in protocols if (t := (_text(p, "Type") or "").upper())
                     in LEGACY_TYPES),
        microsoft_online=None if online is None else online.lower() == "true")


def _mapi_http(protocols: list[Element]) -> MapiHttpUrls | None:
    """The first ``Protocol Type="mapiHttp"`` block; it needs a MailStore URL to be usable."""
    for block in protocols:
        if (block.get("Type") or "").lower() != "mapihttp":
            continue
        store, book = _child(block, "MailStore"), _child(block, "AddressBook")
        urls = MapiHttpUrls(block.get("Version") or "", _text(store, "InternalUrl"),
                            _text(store, "ExternalUrl"), _text(book, "InternalUrl"),
                            _text(book, "ExternalUrl"))
        if urls.mailstore_internal is None and urls.mailstore_external is None:
            raise AutodiscoverError("Autodiscover's mapiHttp block has no MailStore "
                                    "InternalUrl or ExternalUrl")
        return urls
    return None


def parse_v2(raw: bytes) -> str:
    """An Autodiscover v2 answer ``{"Protocol": "AutodiscoverV1", "Url": ...}`` -> the URL."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise AutodiscoverError("Autodiscover v2 answer is not JSON") from None
    except RecursionError:  # thousands of nested arrays: json's C scanner stops cleanly
        raise AutodiscoverError("Autodiscover v2 answer is nested too deeply") from None
    if not isinstance(data, dict):
        raise AutodiscoverError("Autodiscover v2 answer is not a JSON object")
    if "ErrorCode" in data:
        code, message = _scalar(data["ErrorCode"], 40), _scalar(data.get("ErrorMessage"))
        raise AutodiscoverError(f"Autodiscover v2 error {code}"
                                + (f": {message}" if message else ""))
    url = data.get("Url")
    if not isinstance(url, str) or not url:
        raise AutodiscoverError("Autodiscover v2 answer has no Url")
    return url


def _scalar(value: object, limit: int = 200) -> str:
    """A JSON value for a message: text and numbers as one line, anything else unnamed."""
    if value is None or isinstance(value, (dict, list)):
        return "" if value is None else "(not text)"
    return one_line(str(value), limit)
