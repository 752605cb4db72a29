"""Shared core: the database, types, enums, errors, the audit trail, stored blobs, the models, accounts and
display labels."""
