"""The only httpx user besides ``check_mapi.auth``: one client per probe (``client``), a
network backend that enforces the check's ``Deadline`` inside every DNS lookup, connect,
TLS handshake, read and write and records what each connection was (``network``), and the
mapping of every httpx/httpcore error to the error family (``errors``)."""
