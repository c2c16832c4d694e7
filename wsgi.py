"""WSGI entry point: `gunicorn wsgi:app` (and `flask --app wsgi ...`)."""

import sys

from app import create_app
from app.services.catalog.supported import CatalogError

try:
    app = create_app()
except CatalogError as exc:
    sys.stderr.write(f"llm-router cannot start: {exc}\n")
    raise SystemExit(1) from None
