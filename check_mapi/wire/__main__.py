"""``python -m check_mapi.wire decode KIND FILE``: see :mod:`check_mapi.wire.decoder`."""

from __future__ import annotations

import sys

from .decoder import main

sys.exit(main())
