"""The complete, commented example configuration (``python -m check_mapi.emulator
--example-config``). A test loads it, so it always describes the real format."""

from __future__ import annotations

EXAMPLE_CONFIG = '''\
# check_mapi emulator configuration (TOML).
# Run:  python -m check_mapi.emulator --listen 127.0.0.1:8443 --config this-file.toml
#       [--tls-cert cert.pem --tls-key key.pem]
# Every key is optional unless marked "required"; unknown keys are refused.

[server]
# X-ServerApplication: Exchange/<version>
version = "15.02.1544.004"
# Named in X-CalculatedBETarget / X-BEServer / X-DiagInfo (backend) and X-FEServer.
backend_server = "EXMBX01.contoso.com"
frontend_server = "EXCAS01"
database = "DB01"
# /o=<organization>/... of the generated LegacyDNs.
organization = "Contoso"
# Base URLs Autodiscover advertises (InternalUrl / ExternalUrl). Left out: the emulator's
# own URL, e.g. https://127.0.0.1:8443 (both then point at this emulator).
# internal_url = "https://mail.contoso.local"
# external_url = "https://mail.contoso.com"
# X-PendingPeriod: milliseconds between PENDING keep-alives while a delay runs.
pending_period_ms = 30000
# X-ExpirationInfo: a Session Context idle this long (ms) expires.
session_expiration_ms = 900000
# XOR-obfuscate Execute responses when the client allows it (no NoXorMagic flag).
xor_responses = false
deployment_id = "30c3a927-42aa-5de8-91e3-8e5b4655ed00"
# <MicrosoftOnline> in Autodiscover (True on Exchange Online).
microsoft_online = false
# An idle keep-alive connection is closed after this many seconds.
idle_connection_timeout_s = 120
# At most this many connections at once; beyond it a new connection is answered 503 and
# closed (counted in connections_refused).
max_connections = 256

[organization]
# Set-OrganizationConfig -MapiHttpEnabled
mapi_http_enabled = true

[auth]
# Offered in this order in WWW-Authenticate: any of "negotiate", "ntlm", "basic", "bearer".
methods = ["negotiate", "ntlm", "basic", "bearer"]
# Extended Protection: NTLM/Negotiate must carry the TLS channel binding (TLS only; the
# tls-server-end-point hash is the certificate's signature hash, e.g. SHA-384 for ECDSA P-384).
require_channel_binding = false
# Refuse NTLMv1 and LM responses, as Exchange with Extended Protection does (also on plain
# HTTP). Left out: the same as require_channel_binding.
# refuse_ntlmv1 = true
# Basic realm.
realm = "mail.contoso.com"
# NetBIOS domain: accepted in DOMAIN\\user; the NTLM challenge's TargetName and
# MsvAvNbDomainName.
domain = "CONTOSO"
# The server the NTLM challenge names: MsvAvNbComputerName (first label, upper case) and
# MsvAvDnsComputerName (a FQDN as given, a host name + "." + dns_domain).
# Left out: [server] frontend_server.
# server_name = "EXCAS01"
# MsvAvDnsDomainName and MsvAvDnsTreeName. Left out: the realm without its first label when
# it has three or more (mail.contoso.com -> contoso.com), else the realm.
# dns_domain = "contoso.com"
# Bearer challenge parameters (defaults are Exchange Online's):
# bearer_client_id = "00000002-0000-0ff1-ce00-000000000000"
# bearer_trusted_issuers = "00000001-0000-0000-c000-000000000000@*"
# bearer_authorization_uri = "https://login.microsoftonline.com/common/oauth2/authorize"

[identity]
# The built-in identity provider, a stand-in for Microsoft Entra ID on this emulator's own
# host and port (serve HTTPS: msal wants an https authority). Without this section it does
# not run. msal authority: https://<emulator>/<tenant>, with instance_discovery=False.
# Also accepted in its URLs: the tenant GUID, a mailbox domain, "organizations", "common".
# Its delegated tokens (scp has MapiHttp.AccessAsUser.All, upn = a mailbox's smtp) are
# accepted as Bearer tokens by MAPI/HTTP and Autodiscover; app-only tokens are refused.
tenant = "contoso.onmicrosoft.com"              # required in this section
# tenant_id = "c0ffee00-0000-4000-8000-000000000001"   # left out: derived from the name
access_token_seconds = 3600                     # lifetime of access tokens
refresh_token_seconds = 7776000                 # a refresh token unused this long expires
device_code_seconds = 900                       # a device code not redeemed by then expires
device_code_interval = 5                        # seconds msal waits between polls
# Entra keeps a used refresh token valid (each use returns a new one); false: a used one
# is refused, to prove that a client keeps the newest.
reuse_refresh_tokens = true
# Public clients that get delegated Exchange tokens (Microsoft Office by default) and the
# scopes they get for https://outlook.office365.com/.default.
public_client_ids = ["d3590ed6-52b3-4102-aeff-aad2292ab01c"]
delegated_scopes = ["EWS.AccessAsUser.All", "MapiHttp.AccessAsUser.All"]
# Confidential applications for the client-credentials grant with a certificate (app-only
# tokens: "roles", no "scp"; MAPI refuses them). A delegated grant asked by such an app is
# refused with AADSTS65001 (no consent); an unknown client id gets AADSTS700016.
# [[identity.app]]
# client_id = "0d5c5a2e-6f4b-4c1e-9a77-3b1f2a9e8c10"    # required
# display_name = "Monitoring"
# certificates = ["/etc/check_mapi/app.pem"]      # PEM text or a PEM file; required
# roles = ["full_access_as_app"]

[[mailbox]]
smtp = "probe@contoso.com"                      # required
username = "probe"                              # logon name (also CONTOSO\\probe, or smtp)
password = "Probe-Passw0rd!"                    # Basic / NTLM / Negotiate
tokens = ["demo-bearer-token"]                  # accepted Bearer tokens
display_name = "Probe Mailbox (Überwachung)"
# legacy_dn defaults to /o=<organization>/ou=Exchange Administrative Group
#   (FYDIBOHF23SPDLT)/cn=Recipients/cn=<guid hex>-<local part>
legacy_dn = "/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=probe"
mailbox_guid = "416c6368-656d-794a-6f45-57615272456e"   # MailboxId of the MAPI URLs
# Set-CASMailbox -MapiHttpEnabled: true, false, or left out / "null" ($null: the
# organization decides).
# mapi_http_enabled = true
# Set-CASMailbox -MapiBlockOutlookExternalConnectivity (true: internal URLs only).
mapi_block_outlook_external_connectivity = false
# [identity]: this user signs in with the device code (emulator.approve_device_code(code,
# "probe@contoso.com") or POST /_emulator/device/approve) or with the password grant.
# mfa_required = true         # the password grant answers AADSTS50076 (MFA needed)
# refresh_tokens_revoked = true   # every refresh token is refused (AADSTS50173)
# generate_items = 1000       # add N plain messages (benchmarks)

# Inbox items; a key left out is a property the item does not have (the Inbox table
# then answers with a FlaggedPropertyRow for that item).
[[mailbox.inbox]]
subject = "Quarterly report Q3 (Zürich)"
sender_name = "Jürgen Müller"
sender_email = "juergen@contoso.com"
received = 2026-01-15T08:30:00Z
size = 48213
read = false
has_attachments = true

[[mailbox.inbox]]
subject = "Lunch? 🍕 ランチ"
sender_name = "Ana Lima"
sender_email = "ana@contoso.com"
received = 2026-01-14T12:05:00Z
size = 2048
read = true

[[mailbox.inbox]]
# No sender: the row of this item is a FlaggedPropertyRow.
subject = "Delivery Status Notification (Failure)"
received = 2026-01-13T23:59:59Z
size = 10240
read = true
message_class = "REPORT.IPM.Note.NDR"

# Items of the other default folders, with the keys of [[mailbox.inbox]]:
# [[mailbox.sent]] (Sent Items), [[mailbox.deleted]] (Deleted Items), [[mailbox.outbox]]
# (Outbox), [[mailbox.drafts]] (Drafts, found in the hierarchy table of Top of Information
# Store). "received" is also when it was sent (PidTagClientSubmitTime): ruler's
# `check --last` reports the newest sent item. The probe reads the Inbox only.
[[mailbox.sent]]
subject = "Re: Quarterly report Q3 (Zürich)"
sender_name = "Probe Mailbox (Überwachung)"
received = 2026-01-15T09:10:00Z
size = 5120
read = true

# Faults of this mailbox, per step: autodiscover, connect, logon, inbox, disconnect, ping.
# Keys: latency_ms, http_status (+ retry_after), response_code (X-ResponseCode),
# status_code (body StatusCode), error_code (Connect/Execute/Disconnect ErrorCode, name or
# number), rop_error (logon: RopLogon ReturnValue; inbox: RopOpenFolder(Inbox)),
# wrong_server (logon: ecWrongServer redirect), truncate_body, drop_connection,
# pending_forever, malformed_xml (autodiscover), redirect_loop (autodiscover),
# times (only the first N requests of the step; 0 = all).
# close_after_challenge = true (connect, autodiscover; with no other key but times): send the
# NTLM/Negotiate challenge with "Connection: close" and close the connection, so the client's
# AUTHENTICATE leg finds the handshake gone.
[[mailbox.fault]]
step = "inbox"
latency_ms = 150       # PENDING keep-alives are sent meanwhile

[[mailbox]]
# MAPI over HTTP disabled for this mailbox: Autodiscover offers Outlook Anywhere only.
smtp = "legacy@contoso.com"
password = "Legacy-Passw0rd!"
display_name = "Legacy Outlook Anywhere"
mapi_http_enabled = false

[[mailbox]]
# Internal-only: Autodiscover gives InternalUrl and no ExternalUrl.
smtp = "internal@contoso.com"
password = "Internal-Passw0rd!"
display_name = "Internal Only"
mapi_block_outlook_external_connectivity = true

[[mailbox]]
# Autodiscover answers redirectAddr: this address's mailbox lives on as probe@contoso.com
# (as a hybrid mailbox moved to Exchange Online is found at its cloud address). No password:
# no account of its own; probe's user logs on, after following the redirect.
smtp = "moved@contoso.com"
redirect_addr = "probe@contoso.com"

[[mailbox]]
# A mailbox whose logon fails: RopLogon ReturnValue ecLoginFailure.
smtp = "broken@contoso.com"
password = "Broken-Passw0rd!"
display_name = "Broken Mailbox"

[[mailbox.fault]]
step = "logon"
rop_error = "ecLoginFailure"
'''


def example_config() -> str:
    """The example configuration text."""
    return EXAMPLE_CONFIG
