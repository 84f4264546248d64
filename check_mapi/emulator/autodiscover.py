"""Autodiscover: the POX endpoint ([MS-OXDSCLI]; mapi-http.md 5.2-5.6) and v2 JSON (5.7).

What the POX answer advertises follows Microsoft's "Combining MAPI over HTTP configurations"
table (seed 000): MAPI over HTTP when the mailbox's ``MapiHttpEnabled`` (or, when it is
$null, the organization's) is true and the request carries ``X-MapiHttpCapability`` >= 1,
else Outlook Anywhere (EXCH/EXPR, and EXHTTP for clients that send ``X-ClientCanHandle:
ExHttpInfo``); ``MapiBlockOutlookExternalConnectivity`` removes every external URL.
"""

from __future__ import annotations

import json
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from xml.sax.saxutils import escape, quoteattr

from .config import ADMIN_GROUP, EmulatorConfig, Mailbox
from .faults import Fault, FaultBook
from .reply import Reply, Request, exchange_headers, status_page

REQUEST_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006"
RESPONSE_NS = "http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006"
OUTLOOK_NS = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"
V2_PROTOCOLS = {"autodiscoverv1": ("AutodiscoverV1", "/autodiscover/autodiscover.xml"),
                "ews": ("Ews", "/EWS/Exchange.asmx"),
                "activesync": ("ActiveSync", "/Microsoft-Server-ActiveSync"),
                "rest": ("Rest", "/api")}

Node = tuple[str, dict[str, str], "str | list[Node]"]
NEVER_S = 86400.0  # pending_forever on autodiscover: until the client gives up



def _n(name: str, content: str | list[Node] = "", **attrs: str) -> Node:
    return (name, attrs, content)


def _render(node: Node, depth: int = 0) -> list[str]:
    name, attrs, content = node
    pad = "  " * depth
    head = name + "".join(f" {k}={quoteattr(v)}" for k, v in attrs.items())
    if isinstance(content, str):
        return [f"{pad}<{head}>{escape(content)}</{name}>" if content else f"{pad}<{head} />"]
    lines = [f"{pad}<{head}>"]
    for child in content:
        lines += _render(child, depth + 1)
    return [*lines, f"{pad}</{name}>"]


def _document(inner: list[Node], inner_ns: str | None = OUTLOOK_NS) -> bytes:
    attrs = {"xmlns": inner_ns} if inner_ns else {}
    root = _n("Autodiscover", [("Response", attrs, inner)], xmlns=RESPONSE_NS)
    return ("\n".join(['<?xml version="1.0" encoding="utf-8"?>', *_render(root)]) + "\n").encode()


def error_document(code: int, message: str, inner_ns: str | None = OUTLOOK_NS) -> bytes:
    now = datetime.now(timezone.utc)
    error = ("Error", {"Time": now.strftime("%H:%M:%S.%f0"), "Id": str(random.getrandbits(31))},
             [_n("ErrorCode", str(code)), _n("Message", message), _n("DebugData")])
    return _document([error], inner_ns)


@dataclass(frozen=True, slots=True)
class Autodiscover:
    config: EmulatorConfig
    faults: FaultBook

    def handle(self, req: Request) -> Reply:
        """POST /autodiscover/autodiscover.xml (authenticated)."""
        if req.method != "POST":
            return self._xml(error_document(600, "Invalid Request", None))
        parsed = _parse_request(req.body)
        if isinstance(parsed, int):
            message = "Invalid Request" if parsed == 600 else "Provider is not available"
            return self._xml(error_document(parsed, message, None))
        address, legacy_dn = parsed
        mailbox = self._mailbox(address, legacy_dn)
        fault = self.faults.take(mailbox.faults, "autodiscover") if mailbox else None
        reply = self._answer(req, mailbox, address or legacy_dn or "", fault)
        if fault is None:
            return reply
        # POX has no PENDING keep-alive: "forever" is an answer that never comes
        delay = NEVER_S if fault.pending_forever else fault.latency_ms / 1000
        return replace(reply, delay_s=delay, drop=fault.drop_connection,
                       truncate_body=fault.truncate_body, fault=True)

    def mailbox_of(self, body: bytes) -> Mailbox | None:
        """The mailbox a POX request body asks for, if any (read before authentication too)."""
        parsed = _parse_request(body)
        return None if isinstance(parsed, int) else self._mailbox(*parsed)

    def _mailbox(self, address: str | None, legacy_dn: str | None) -> Mailbox | None:
        if address:
            return self.config.by_smtp(address)
        wanted = (legacy_dn or "").lower()
        return next((m for m in self.config.mailboxes if m.legacy_dn.lower() == wanted), None)

    def _answer(self, req: Request, mailbox: Mailbox | None, asked: str,
                fault: Fault | None) -> Reply:
        if fault is not None and fault.http_status is not None:
            return status_page(fault.http_status, self.config.server, fault.retry_after)
        if fault is not None and fault.malformed_xml:
            body = (b'<?xml version="1.0" encoding="utf-8"?>\n<Autodiscover xmlns="'
                    + RESPONSE_NS.encode() + b'"><Response><User><DisplayName>')
        elif fault is not None and fault.redirect_loop:
            body = _redirect("redirectAddr", "RedirectAddr", asked)
        elif mailbox is None:
            body = error_document(500, "The e-mail address cannot be found.")
        elif mailbox.redirect_addr:
            body = _redirect("redirectAddr", "RedirectAddr", mailbox.redirect_addr)
        elif mailbox.redirect_url:
            body = _redirect("redirectUrl", "RedirectUrl", mailbox.redirect_url)
        else:
            body = self._settings(req, mailbox)
        return self._xml(body)

    def _xml(self, body: bytes) -> Reply:
        headers = (("Content-Type", "text/xml; charset=utf-8"), ("Cache-Control", "private"),
                   *exchange_headers(self.config.server))
        return Reply(200, headers, body)

    def _settings(self, req: Request, mailbox: Mailbox) -> bytes:
        facts = self.config.server
        internal = (facts.internal_url or req.base_url).rstrip("/")
        external = None if mailbox.block_external else (facts.external_url or req.base_url
                                                         ).rstrip("/")
        enabled = mailbox.mapi_http_enabled
        if enabled is None:
            enabled = self.config.organization_mapi_http_enabled
        user = _n("User", [
            _n("DisplayName", mailbox.display_name), _n("LegacyDN", mailbox.legacy_dn),
            _n("AutoDiscoverSMTPAddress", mailbox.smtp),
            _n("DeploymentId", str(facts.deployment_id))])
        account: list[Node] = [
            _n("AccountType", "email"), _n("Action", "settings"),
            _n("MicrosoftOnline", str(facts.microsoft_online)),
            _n("ConsumerMailbox", "False")]
        if enabled and _capability(req) >= 1:
            account.append(_mapi_http(mailbox, internal, external))
        else:
            account += self._outlook_anywhere(req, mailbox, internal, external)
        account.append(_web(internal, external))
        return _document([user, _n("Account", account)])

    def _outlook_anywhere(self, req: Request, mailbox: Mailbox, internal: str,
                          external: str | None) -> list[Node]:
        can_handle = (req.header("X-ClientCanHandle") or "").lower()
        methods = self.config.auth.methods
        package = ("Negotiate" if "negotiate" in methods and "negotiate" in can_handle else
                   "Ntlm" if "ntlm" in methods or "negotiate" in methods else "Basic")
        server_dn = (f"{mailbox.dn_prefix}/ou={ADMIN_GROUP}/cn=Configuration/cn=Servers/"
                     f"cn={mailbox.mailbox_id}")
        blocks = [_n("Protocol", [
            _n("Type", "EXCH"), _n("Server", mailbox.mailbox_id), _n("ServerDN", server_dn),
            _n("MdbDN", f"{server_dn}/cn=Microsoft Private MDB"),
            _n("ASUrl", f"{internal}/EWS/Exchange.asmx"),
            _n("EwsUrl", f"{internal}/EWS/Exchange.asmx"), _n("ServerExclusiveConnect", "off")])]
        http_blocks = [internal] + ([external] if external else [])
        if external:
            blocks.append(_proxy("EXPR", external, package))
        if "exhttpinfo" in can_handle:
            blocks += [_proxy("EXHTTP", base, package) for base in http_blocks]
        return blocks

    def handle_json(self, req: Request) -> Reply:
        """GET /autodiscover/autodiscover.json/v1.0/<smtp>?Protocol=... (anonymous)."""
        query = {k.lower(): v for k, v in req.query.items()}
        tail = req.path.partition("/autodiscover.json")[2].strip("/")
        address = tail.partition("/")[2] if tail.lower().startswith("v1.0/") else query.get(
            "email", "")
        protocol = query.get("protocol", "")
        if not protocol:
            return _json(400, {"ErrorCode": "MandatoryParameterMissing", "ErrorMessage":
                               "A valid value must be provided for the query parameter "
                               "'Protocol'."}, self.config)
        if not address:
            return _json(400, {"ErrorCode": "MandatoryParameterMissing", "ErrorMessage":
                               "A valid email address must be provided."}, self.config)
        known = V2_PROTOCOLS.get(protocol.lower())
        if known is None:
            return _json(400, {"ErrorCode": "ProtocolNotSupported", "ErrorMessage":
                               f"The given protocol value '{protocol}' is invalid. Supported "
                               "values are 'AutodiscoverV1,Ews,ActiveSync,Rest'."}, self.config)
        mailbox = self.config.by_smtp(address)
        facts = self.config.server
        base = facts.internal_url if mailbox and mailbox.block_external else facts.external_url
        url = (base or req.base_url).rstrip("/") + known[1]
        return _json(200, {"Protocol": known[0], "Url": url}, self.config)


def _json(status: int, data: dict[str, str], config: EmulatorConfig) -> Reply:
    headers = (("Content-Type", "application/json; charset=utf-8"),
               *exchange_headers(config.server))
    return Reply(status, headers, json.dumps(data).encode())


def _capability(req: Request) -> int:
    """X-MapiHttpCapability; a value that is not a positive integer counts as absent."""
    value = (req.header("X-MapiHttpCapability") or "").strip()
    return int(value) if value.isdigit() and value.isascii() else 0


def _mapi_http(mailbox: Mailbox, internal: str, external: str | None) -> Node:
    def urls(endpoint: str) -> list[Node]:
        path = f"/mapi/{endpoint}/?MailboxId={mailbox.mailbox_id}"
        found = [_n("InternalUrl", internal + path)]
        return found + ([_n("ExternalUrl", external + path)] if external else [])
    return ("Protocol", {"Type": "mapiHttp", "Version": "1"},
            [_n("MailStore", urls("emsmdb")), _n("AddressBook", urls("nspi"))])


def _proxy(kind: str, base: str, package: str) -> Node:
    host = base.partition("://")[2].partition("/")[0]
    return _n("Protocol", [
        _n("Type", kind), _n("Server", host), _n("SSL", "On" if base.startswith("https") else
                                                 "Off"),
        _n("AuthPackage", package), _n("ASUrl", f"{base}/EWS/Exchange.asmx"),
        _n("EwsUrl", f"{base}/EWS/Exchange.asmx"), _n("ServerExclusiveConnect", "On")])


def _web(internal: str, external: str | None) -> Node:
    parts = [_n("Internal", [
        ("OWAUrl", {"AuthenticationMethod": "Basic, Fba"}, f"{internal}/owa/"),
        _n("Protocol", [_n("Type", "EXCH"), _n("ASUrl", f"{internal}/EWS/Exchange.asmx")])])]
    if external:
        parts.append(_n("External", [
            ("OWAUrl", {"AuthenticationMethod": "Fba"}, f"{external}/owa/"),
            _n("Protocol", [_n("Type", "EXPR"), _n("ASUrl", f"{external}/EWS/Exchange.asmx")])]))
    return _n("Protocol", [_n("Type", "WEB"), *parts])


def _redirect(action: str, element: str, target: str) -> bytes:
    return _document([_n("Account", [_n("AccountType", "email"), _n("Action", action),
                                     _n(element, target)])])


def _parse_request(body: bytes) -> tuple[str | None, str | None] | int:
    """(EMailAddress, LegacyDN) of a POX request, or the Autodiscover error code.

    A DOCTYPE is refused before parsing: no entity of any kind is ever expanded.
    """
    upper = body.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        return 600
    try:
        root = ET.fromstring(body)
    except (ET.ParseError, ValueError):
        return 600
    request = root.find(f"{{{REQUEST_NS}}}Request")
    if root.tag != f"{{{REQUEST_NS}}}Autodiscover" or request is None:
        return 600
    schema = (request.findtext(f"{{{REQUEST_NS}}}AcceptableResponseSchema") or "").strip()
    address = (request.findtext(f"{{{REQUEST_NS}}}EMailAddress") or "").strip() or None
    legacy_dn = (request.findtext(f"{{{REQUEST_NS}}}LegacyDN") or "").strip() or None
    if not (address or legacy_dn) or not schema:
        return 600
    if schema != OUTLOOK_NS:
        return 601
    return address, legacy_dn
