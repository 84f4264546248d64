"""The admin API client: msal client credentials with a certificate, then ``InvokeCommand``.

``POST <admin base>/adminapi/beta/<tenant>/InvokeCommand`` with a ``CmdletInput`` body, the
same body POSTed again to each ``@odata.nextLink``; HTTP 429 is retried after its
``Retry-After`` while the deadline allows (auth.md section 3.1). msal reaches the identity
provider over the probe's own transport (:class:`check_mapi.auth.msal_http.MsalHttp`).

The certificate's key and a PFX passphrase are secrets: no text made here contains them.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from ..auth.msal_http import MsalHttp
from ..deadline import Deadline
from ..errors import AuthError, ConfigError, MapiError, ProtocolError
from ..values import Value, field

ADMIN_BASE = "https://outlook.office365.com"
SCOPE = "https://outlook.office365.com/.default"
AUTHORITY_HOST = "login.microsoftonline.com"
ANCHOR = "UPN:SystemMailbox{bb558c35-97f1-4cb9-8ff7-d53741dc928c}@"
MAX_ANSWER = 1 << 20
MAX_PAGES = 20
MAX_RETRIES = 2


class AppCredential(Value):
    """The certificate app: tenant, client id, PEM key and certificate (repr hides the key)."""

    tenant: str
    app_id: str
    private_key_pem: str = field(repr=False)
    certificate_pem: str


def load_credential(tenant: str, app_id: str, *, key_file: str | None = None,
                    cert_file: str | None = None, pfx_file: str | None = None,
                    passphrase_file: str | None = None) -> AppCredential:
    """The key and certificate from PEM files, or from a PFX (passphrase read from a file)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    try:
        if pfx_file is not None:
            secret = (Path(passphrase_file).read_bytes().rstrip(b"\r\n")
                      if passphrase_file is not None else None)
            try:
                key, cert, _ = pkcs12.load_key_and_certificates(Path(pfx_file).read_bytes(),
                                                                secret)
            except ValueError:
                raise ConfigError(f"--cert-pfx {pfx_file}: cannot be read (wrong passphrase "
                                  "or not a PKCS#12 file)") from None
            if key is None or cert is None:
                raise ConfigError(f"--cert-pfx {pfx_file}: needs a private key and its "
                                  "certificate")
            key_pem = key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
            cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
        elif key_file is not None and cert_file is not None:
            key_pem, cert_pem = Path(key_file).read_text(), Path(cert_file).read_text()
        else:
            raise ConfigError("the admin API needs --cert-key and --cert-file, or --cert-pfx")
    except OSError as err:
        raise ConfigError(f"cannot read {err.filename}: {err.strerror}") from None
    return AppCredential(tenant, app_id, key_pem, cert_pem)


class LiveSettings(Value):
    """What the admin API said; None where the property was absent."""

    mapi_enabled: bool | None
    mailbox_mapihttp: bool | None
    mailbox_mapihttp_present: bool
    block_external: bool | None
    org_mapihttp: bool | None

    def to_json(self) -> dict[str, Any]:
        return {"mapi_enabled": self.mapi_enabled, "mailbox_mapihttp": self.mailbox_mapihttp,
                "mailbox_mapihttp_present": self.mailbox_mapihttp_present,
                "block_external": self.block_external, "org_mapihttp": self.org_mapihttp}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LiveSettings:
        values = {k: data[k] for k in ("mapi_enabled", "mailbox_mapihttp", "block_external",
                                       "org_mapihttp")}
        if not all(v is None or isinstance(v, bool) for v in values.values()):
            raise ValueError("not a boolean")
        return cls(mailbox_mapihttp_present=bool(data["mailbox_mapihttp_present"]), **values)


def _flag(row: dict[str, Any], name: str) -> bool | None:
    for key, value in row.items():
        if key.lower() == name.lower():
            return value if isinstance(value, bool) else None
    return None


class AdminApi:
    """One tenant's admin API, reached through ``transport`` within ``deadline``."""

    def __init__(self, transport: Any, deadline: Deadline, credential: AppCredential,
                 authority_host: str = AUTHORITY_HOST, admin_base: str = ADMIN_BASE) -> None:
        self.transport, self.deadline, self.credential = transport, deadline, credential
        self.authority_host, self.admin_base = authority_host, admin_base.rstrip("/")
        self._token: str | None = None

    def token(self) -> str:
        """An app-only access token (msal client credentials; msal imported only here)."""
        if self._token is not None:
            return self._token
        import msal

        host = self.authority_host
        private = not host.split(":", maxsplit=1)[0].endswith("microsoftonline.com")
        try:
            app = msal.ConfidentialClientApplication(
                self.credential.app_id, authority=f"https://{host}/{self.credential.tenant}",
                client_credential={"private_key": self.credential.private_key_pem,
                                   "public_certificate": self.credential.certificate_pem},
                http_client=MsalHttp(self.transport, self.deadline, host),
                instance_discovery=not private)
            result: dict[str, Any] = app.acquire_token_for_client([SCOPE])
        except MapiError:
            raise
        except ValueError as err:  # msal: a bad authority, key or certificate
            raise AuthError(f"the certificate app cannot get a token: {err}") from None
        if "access_token" not in result:
            first = str(result.get("error_description") or result.get("error") or "refused")
            raise AuthError("the identity provider refused the app's token request ("
                            f"{first.strip().splitlines()[0] if first.strip() else 'refused'})")
        self._token = str(result["access_token"])
        return self._token

    def invoke(self, cmdlet: str, **parameters: str) -> list[dict[str, Any]]:
        """Every row ``cmdlet`` returns, page after page."""
        url: str | None = f"{self.admin_base}/adminapi/beta/{self.credential.tenant}/InvokeCommand"
        body = json.dumps({"CmdletInput": {"CmdletName": cmdlet, "Parameters": parameters}})
        rows: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            if url is None:
                return rows
            answer = self._post(url, cmdlet, body.encode())
            value = answer.get("value")
            if not isinstance(value, list):
                raise ProtocolError(f"admin API {cmdlet}: the answer has no value list")
            rows += [row for row in value if isinstance(row, dict)]
            link = answer.get("@odata.nextLink")
            url = link if isinstance(link, str) and link else None
        raise ProtocolError(f"admin API {cmdlet}: more than {MAX_PAGES} pages")

    def _post(self, url: str, cmdlet: str, body: bytes) -> dict[str, Any]:
        headers = [("Authorization", f"Bearer {self.token()}"),
                   ("Content-Type", "application/json"), ("Accept", "application/json"),
                   ("Prefer", "odata.maxpagesize=1000"), ("X-CmdletName", cmdlet),
                   ("X-AnchorMailbox", f"{ANCHOR}{self.credential.tenant}")]
        for attempt in range(MAX_RETRIES + 1):
            reply = self.transport.request("POST", url, headers, body, self.deadline,
                                           max_bytes=MAX_ANSWER)
            if reply.status == 429:
                wait = _retry_after(reply.headers)
                if attempt < MAX_RETRIES and wait + 1 < self.deadline.remaining():
                    time.sleep(wait)
                    continue
                raise ProtocolError(f"admin API {cmdlet}: throttled (HTTP 429, Retry-After "
                                    f"{wait:g} s)")
            break
        try:
            answer = json.loads(reply.body or b"{}")
        except ValueError:
            answer = None
        if reply.status != 200 or not isinstance(answer, dict):
            raise ProtocolError(f"admin API {cmdlet}: HTTP {reply.status}"
                                f"{_error_text(answer)}")
        return answer

    def read(self, mailbox: str) -> LiveSettings:
        """``Get-CASMailbox <mailbox>`` and ``Get-OrganizationConfig``."""
        boxes = self.invoke("Get-CASMailbox", Identity=mailbox)
        if len(boxes) != 1:
            raise ProtocolError(f"admin API Get-CASMailbox {mailbox}: {len(boxes)} mailboxes")
        [box] = boxes
        orgs = self.invoke("Get-OrganizationConfig")
        present = any(k.lower() == "mapihttpenabled" for k in box)
        return LiveSettings(
            mapi_enabled=_flag(box, "MAPIEnabled"), mailbox_mapihttp=_flag(box, "MapiHttpEnabled"),
            mailbox_mapihttp_present=present,
            block_external=_flag(box, "MAPIBlockOutlookExternalConnectivity"),
            org_mapihttp=_flag(orgs[0], "MapiHttpEnabled") if orgs else None)


def _retry_after(headers: Any) -> float:
    for name, value in headers:
        if name.lower() == "retry-after":
            try:
                return min(max(float(value), 0.0), 60.0)
            except ValueError:
                return 1.0
    return 1.0


def _error_text(answer: Any) -> str:
    """Exchange's error message: details, then the inner exception, then the message."""
    if not isinstance(answer, dict) or not isinstance(answer.get("error"), dict):
        return ""
    error = answer["error"]
    details = error.get("details")
    if isinstance(details, list) and details and isinstance(details[0], dict):
        message = details[0].get("message")
        if message:
            return f": {str(message)[:300]}"
    return f": {str(error.get('message') or error.get('code') or '')[:300]}"
