"""Autodiscover: POX/v2 building and safe parsing (``pox``), Outlook's discovery order with
redirects (``discovery``), the optional answer cache (``cache``) and the comparison of the
answer with the expected MAPI over HTTP configuration (``verdict``, pure)."""
