"""``python -m check_mapi``: the plugin, as the ``check_mapi`` command."""

from __future__ import annotations

from .plugin.main import main

if __name__ == "__main__":
    main()
