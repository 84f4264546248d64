"""Table 2 of Microsoft's "Configure MAPI over HTTP in Exchange Server" (../shared/seeds),
typed from the document, shared by the resolver tests and the end-to-end table tests.

Never generated from check_mapi.resolver's own table: that is what it checks.
"""

from __future__ import annotations

# Table 2: Set-OrganizationConfig MapiHttpEnabled, Set-CasMailbox MapiHttpEnabled,
# Set-CasMailbox MapiBlockOutlookExternalConnectivity, AutoDiscover result.
TABLE_2 = [
    ("$true", "$null", "$false", "MAPI over HTTP, internal and external"),
    ("$true", "$null", "$true", "MAPI over HTTP, internal only"),
    ("$true", "$true", "$false", "MAPI over HTTP, internal and external"),
    ("$true", "$true", "$true", "MAPI over HTTP, internal only"),
    ("$true", "$false", "$false", "Outlook Anywhere, internal and external"),
    ("$true", "$false", "$true", "Outlook Anywhere, internal only"),
    ("$false", "$null", "$false", "Outlook Anywhere, internal and external"),
    ("$false", "$null", "$true", "Outlook Anywhere, internal only"),
    ("$false", "$true", "$false", "MAPI over HTTP, internal and external"),
    ("$false", "$true", "$true", "MAPI over HTTP, internal only"),
    ("$false", "$false", "$false", "Outlook Anywhere, internal and external"),
    ("$false", "$false", "$true", "Outlook Anywhere, internal only"),
]
