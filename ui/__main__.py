"""``python -m ui``: start the desktop app (what ``cua app`` runs)."""

from ui.app import main

raise SystemExit(main())
