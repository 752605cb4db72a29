"""Rewrite the generated op-kind section of docs/sync-contract.md from the declarations.

    .venv/bin/python scripts/sync_contract.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_babel import force_locale  # noqa: E402

from app import create_app  # noqa: E402
from domain.fieldwork.contract_doc import with_generated_section  # noqa: E402

DOC = ROOT / "docs" / "sync-contract.md"

if __name__ == "__main__":
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    with app.test_request_context(), force_locale("en"):
        DOC.write_text(with_generated_section(DOC.read_text(encoding="utf-8")), encoding="utf-8")
    print(f"wrote {DOC.relative_to(ROOT)}")
