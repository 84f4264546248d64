"""The command line, declared (``parser``, derived from ``check_mapi.metrics``) and resolved to
frozen settings (``options``: ranges, URLs, secrets from ``secrets``, ``--extra-opts``).
Cheap by contract: nothing here imports httpx or the probe."""
