"""Content-addressed storage of binary content in the database."""
from __future__ import annotations

import hashlib

from sqlalchemy import bindparam, text

from .db import can_write_at_once, db
from .models import Blob
from .types import utcnow


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def store_blob(data: bytes, media_type: str) -> Blob:
    """Store bytes once: the same content always gives the same row."""
    digest = sha256_hex(data)
    blob = db.session.get(Blob, digest)
    if blob is None:
        blob = Blob(sha256=digest, media_type=media_type, size=len(data), data=data)
        db.session.add(blob)
    return blob


_INSERT_IF_NEW = text(f"INSERT INTO {Blob.__tablename__} (sha256, media_type, size, data, created_at) "
                      "VALUES (:sha256, :media_type, :size, :data, :created_at) ON CONFLICT (sha256) DO NOTHING"
                      ).bindparams(*(bindparam(c.name, type_=c.type) for c in Blob.__table__.columns))


def store_blob_sha256(data: bytes, media_type: str) -> str:
    """Store bytes once, as `store_blob`, with one statement (no read of the row first); the SHA-256. Outside a
    writing transaction on SQLite (whose first write must not start early): through the session."""
    if not can_write_at_once():
        return store_blob(data, media_type).sha256
    digest = sha256_hex(data)
    db.session.connection().execute(_INSERT_IF_NEW, dict(sha256=digest, media_type=media_type, size=len(data),
                                                         data=data, created_at=utcnow()))
    return digest
