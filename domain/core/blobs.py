"""Content-addressed storage of binary content in the database."""
from __future__ import annotations

import hashlib

from .db import db
from .models import Blob


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
