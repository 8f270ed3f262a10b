"""``python -m quire_client submit|status|results ...``."""

from __future__ import annotations

from quire_client.main import main

raise SystemExit(main())
