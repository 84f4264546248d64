"""The one place where secrets are taken out of what the plugin prints.

Servers echo requests (a reason phrase, an error page, a header quoting ``Authorization``),
exceptions quote header values, and URLs may carry ``user:password@``. Rather than trust
every message on its way up, the rendered texts of every ``Evaluation`` (status line,
brief, long output) pass through a ``Scrubber`` fed with every secret the run holds, in
every form it went on the wire or may come back in:

* the value as given and trimmed (a token file's trailing newline), percent-encoded
  (form and URL style), and escaped as ``repr`` shows it (``b'Bearer tok\\n'``);
* ``base64(user:password)`` of each Basic logon (the mailbox's and the proxy's), as
  httpx encodes it (UTF-8) and as Latin-1;
* whatever looks like a credential whose value the run never knew (an OAuth access token
  from the identity provider): ``Basic``/``Bearer`` followed by a token, and JWTs;
* the userinfo of every URL (``https://user:pass@host`` -> ``https://host``).

Secrets shorter than ``MIN_SECRET`` characters are not searched for (as for the proxy's
answers, ``transport.proxy.MIN_SCRUBBED``): ``wrong`` or ``test`` would maim ordinary words
of the output, and a secret that short is guessed rather than read anyway. Perfdata are numbers and
mailbox names and are left alone. Standard library only, ``binascii`` and ``re``: the
cheap paths (an argument error) pass here too.
"""

from __future__ import annotations

import binascii
import re
from collections.abc import Iterable

from ..evaluation import Evaluation

MASK = "***"
MIN_SECRET = 6
# Compiled by ``re`` at their first use (its cache), and only used on text that can hold
# them: compiling all three costs every run ~2.5 ms.
_USERINFO = r"(?i)\b([a-z][a-z0-9+.-]*://)(?!\*\*\*@)[^/?#\s]*@"  # an existing *** stays
_CREDENTIAL = r"\b(Basic|Bearer)(\s+)[A-Za-z0-9._~+/=-]{12,}"
_JWT = r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*"
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


class Scrubber:
    """``Scrubber(secrets, logons)``: ``secrets`` every password, token and passphrase of
    the run; ``logons`` every (user, password) pair sent as Basic."""

    def __init__(self, secrets: Iterable[str] = (),
                 logons: Iterable[tuple[str, str]] = ()) -> None:
        found: set[str] = set()
        for secret in secrets:
            found.update(_forms(secret))
        for user, password in logons:
            found.update(_basic(user, password))
        self._forms = sorted((f for f in found if len(f) >= MIN_SECRET), key=len,
                             reverse=True)

    def text(self, text: str) -> str:
        """``text`` without any secret, credential or URL userinfo."""
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        if "@" in text and "://" in text:
            text = re.sub(_USERINFO, r"\1", text)
        if "Basic" in text or "Bearer" in text:
            text = re.sub(_CREDENTIAL, rf"\1\2{MASK}", text)
        return re.sub(_JWT, MASK, text) if "eyJ" in text else text

    def evaluation(self, evaluation: Evaluation) -> Evaluation:
        """``evaluation`` with every text scrubbed (its perfdata as they are)."""
        e = evaluation
        return Evaluation(e.state, self.text(e.summary), e.perfdata,
                          tuple(self.text(line) for line in e.long), e.subject,
                          self.text(e.brief), e.more_perfdata)


def _forms(secret: str) -> set[str]:
    forms: set[str] = set()
    for value in {secret, secret.strip()}:
        if not value:
            continue
        forms.update({value, _quoted(value, " "), _quoted(value, "+"),
                      _quoted(value, " ", "/"), repr(value)[1:-1],
                      repr(value.encode("utf-8", "replace"))[2:-1]})
    return forms


def _basic(user: str, password: str) -> set[str]:
    """The ``Authorization: Basic`` values of ``user``/``password`` (also trimmed)."""
    values: set[str] = set()
    for secret in {password, password.strip()}:
        for encoding in ("utf-8", "latin-1"):
            try:
                pair = f"{user}:{secret}".encode(encoding)
            except UnicodeEncodeError:
                continue
            values.add(binascii.b2a_base64(pair, newline=False).decode("ascii"))
    return values | _forms(password)


def _quoted(value: str, space: str, safe: str = "") -> str:
    """Percent-encoded as a URL or form carries it (``space``: ``+`` in forms; ``safe``:
    kept as it is, ``/`` in a path)."""
    return "".join(c if c in _UNRESERVED or c in safe else
                   "+" if c == " " and space == "+" else
                   "".join(f"%{b:02X}" for b in c.encode("utf-8", "replace"))
                   for c in value)
