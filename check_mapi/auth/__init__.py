"""Client authentication as ``httpx.Auth`` flows: Basic (httpx's own) and Bearer.

NTLM/Negotiate (pyspnego) and OAuth (msal) arrive with the auth issue; each is imported
lazily, so a Basic or bearer-token run loads neither library.
"""

from __future__ import annotations

from .bearer import BearerAuth

__all__ = ["BearerAuth"]
