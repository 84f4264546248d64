"""Exchange Online configuration read live through the admin API (``InvokeCommand``).

An app-only (certificate) token cannot log on to a mailbox over MAPI over HTTP, but the same
certificate app can read what the resolver needs: ``Get-CASMailbox`` (MAPIEnabled and, where
present, MapiHttpEnabled and MAPIBlockOutlookExternalConnectivity) and
``Get-OrganizationConfig``. See :mod:`.adminapi` (the client) and :mod:`.cache`.
"""
