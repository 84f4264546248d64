"""One probe of one mailbox: the step driver (``driver``), the MAPI conversation it holds
(``session``: headers, cookies, request ids; ``conversation``: RopLogon and the Inbox ROPs),
and the result it fills in (``result``: plain data, read by ``check_mapi.evaluate``)."""
