"""Exchange Online's admin API (``InvokeCommand``), as ExchangeOnlineManagement v3 calls it.

``POST /adminapi/beta/<tenant>/InvokeCommand`` with
``{"CmdletInput": {"CmdletName": "Get-CASMailbox", "Parameters": {"Identity": ...}}}``
answers ``{"@odata.context": ..., "value": [...], "@odata.nextLink": ...}`` (paging: the
same body is POSTed to the next link; page size from ``Prefer: odata.maxpagesize=N``).
Two cmdlets, from the mailbox configuration: ``Get-CASMailbox`` (``MAPIEnabled``,
``MapiHttpEnabled``, ``MAPIBlockOutlookExternalConnectivity``; without ``Identity`` every
mailbox) and ``Get-OrganizationConfig`` (``MapiHttpEnabled``).

Only app-only tokens of the emulator's identity provider are accepted (``roles`` with
``Exchange.ManageAsApp``, no ``scp``), as the monitoring's certificate app holds them.
A ``[[mailbox.fault]]`` with ``step = "adminapi"`` (e.g. ``http_status = 429``,
``retry_after``) takes ``Get-CASMailbox`` of that mailbox: throttling, as Exchange Online
answers it. Errors have Exchange's JSON shape ``{"error": {"code", "message", "details"}}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .faults import FaultBook
from .reply import Reply, Request

if TYPE_CHECKING:
    from .config import EmulatorConfig, Mailbox
    from .idp import IdentityProvider

ADMIN_ROLE = "Exchange.ManageAsApp"
PATH = re.compile(r"/adminapi/beta/([^/]+)/invokecommand", re.IGNORECASE)
DEFAULT_PAGE = 1000
FAULT_STEP = "adminapi"


def _json(status: int, body: Mapping[str, Any], *extra: tuple[str, str]) -> Reply:
    headers = (("Content-Type", "application/json; odata.metadata=minimal; charset=utf-8"),
               ("Cache-Control", "no-cache"), *extra)
    return Reply(status, headers, json.dumps(body).encode(), fault=status >= 400)


def error(status: int, code: str, message: str, *extra: tuple[str, str]) -> Reply:
    return _json(status, {"error": {"code": code, "message": message,
                                    "details": [{"message": message}]}}, *extra)


def _page_size(req: Request) -> int:
    match = re.search(r"odata\.maxpagesize=(\d+)", req.header("prefer") or "")
    return max(1, int(match[1])) if match else DEFAULT_PAGE


class AdminApi:
    """``InvokeCommand`` over the emulator's mailboxes and organization settings."""

    def __init__(self, config: EmulatorConfig, identity: IdentityProvider,
                 faults: FaultBook) -> None:
        self.config = config
        self.identity = identity
        self.faults = faults

    def handle(self, req: Request) -> Reply:
        if req.method != "POST":
            return error(405, "MethodNotAllowed", "InvokeCommand takes POST")
        refused = self._refused(req)
        if refused is not None:
            return refused
        try:
            body = json.loads(req.body or b"{}")
            cmdlet = body["CmdletInput"]
            name = str(cmdlet["CmdletName"])
            parameters = cmdlet.get("Parameters") or {}
        except (ValueError, KeyError, TypeError, AttributeError):
            return error(400, "BadRequest", "the body is not a CmdletInput object")
        if name.lower() == "get-organizationconfig":
            rows = [self._organization()]
        elif name.lower() == "get-casmailbox":
            found = self._mailboxes(parameters.get("Identity"))
            if isinstance(found, Reply):
                return found
            rows = found
        else:
            return error(400, "BadRequest", f"The term '{name}' is not recognized as a "
                                            "cmdlet this endpoint serves")
        return self._page(req, rows)

    def _refused(self, req: Request) -> Reply | None:
        match = PATH.fullmatch(req.path)
        settings = self.identity.settings
        tenants = (settings.tenant.lower(), str(settings.tenant_id).lower())
        if match is None or match[1].lower() not in tenants:
            return error(404, "NotFound", "no such tenant")
        return self._token_refused(req)

    def _token_refused(self, req: Request) -> Reply | None:
        settings = self.identity.settings
        scheme, _, token = (req.header("authorization") or "").partition(" ")
        bearer = ("Bearer", 'Bearer authorization_uri="https://login.microsoftonline.com/'
                  'common/oauth2/authorize"')
        if scheme.lower() != "bearer" or not token:
            return error(401, "Unauthorized", "a Bearer token is required",
                         ("WWW-Authenticate", bearer[1]))
        try:
            claims = self.identity.signer.claims(token.strip())
        except Exception:  # noqa: BLE001 - any token this provider did not sign
            return error(401, "Unauthorized", "the token cannot be validated")
        now = self.identity.grants.now()
        if claims.get("iss") != f"https://sts.windows.net/{settings.tenant_id}/" or \
                not isinstance(claims.get("exp"), int) or claims["exp"] <= now:
            return error(401, "Unauthorized", "the token is expired or not from this tenant")
        if claims.get("scp") or claims.get("idtyp") != "app":
            return error(403, "Forbidden", "delegated tokens are not accepted here: use an "
                                           f"app-only token with the role {ADMIN_ROLE}")
        if ADMIN_ROLE not in (claims.get("roles") or ()):
            return error(403, "Forbidden", f"the app lacks the role {ADMIN_ROLE}")
        return None

    def _organization(self) -> dict[str, Any]:
        return {"Identity": self.config.server.organization,
                "Name": self.config.server.organization,
                "MapiHttpEnabled": self.config.organization_mapi_http_enabled}

    def _mailboxes(self, identity: object) -> list[dict[str, Any]] | Reply:
        boxes = self.config.mailboxes
        if identity is not None:
            wanted = str(identity).strip().lower()
            boxes = tuple(m for m in boxes if wanted in (m.smtp.lower(), m.username.lower()))
            if not boxes:
                return error(404, "NotFound", f"The operation couldn't be performed because "
                                              f"object '{identity}' couldn't be found")
        for box in boxes:
            fault = self.faults.take(box.faults, FAULT_STEP)
            if fault is not None and fault.http_status is not None:
                extra: tuple[tuple[str, str], ...] = (
                    (("Retry-After", str(fault.retry_after)),) if fault.retry_after else ())
                if fault.http_status == 429:
                    extra += (("Rate-Limit-Remaining", "0"),
                              ("Rate-Limit-Reset", str(fault.retry_after or 1)))
                return error(fault.http_status, "TooManyRequests" if fault.http_status == 429
                             else "ServerError", "throttled: too many requests"
                             if fault.http_status == 429 else "fault", *extra)
        return [_cas_mailbox(box) for box in boxes]

    def _page(self, req: Request, rows: list[dict[str, Any]]) -> Reply:
        skip = req.query.get("$skiptoken") or req.query.get("%24skiptoken") or "0"
        start = int(skip) if skip.isdigit() else 0
        size = _page_size(req)
        body: dict[str, Any] = {
            "@odata.context": f"{req.base_url}/adminapi/beta/$metadata#Collection(Exchange."
                              "GenericHashTable)", "value": rows[start:start + size]}
        if start + size < len(rows):
            body["@odata.nextLink"] = f"{req.base_url}{req.path}?$skiptoken={start + size}"
        return _json(200, body)


def _cas_mailbox(box: Mailbox) -> dict[str, Any]:
    return {"Identity": box.display_name, "PrimarySmtpAddress": box.smtp,
            "MAPIEnabled": box.mapi_enabled, "MapiHttpEnabled": box.mapi_http_enabled,
            "MAPIBlockOutlookExternalConnectivity": box.block_external}
