"""``python -m ingest_api``: serve the read API (ingest_api.serve)."""

from ingest_api.serve import main

raise SystemExit(main())
