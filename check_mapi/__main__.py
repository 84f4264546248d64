"""``python -m check_mapi`` runs the plugin."""

from __future__ import annotations

from .cli import main

main()
