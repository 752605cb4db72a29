"""Static files go out compressed (the offline app's shell above all) and vendored files, versioned by their
directory name, are cached for a year; the rest is revalidated."""
from __future__ import annotations

from pathlib import Path

import brotli
import pytest

STATIC = Path(__file__).resolve().parent.parent / "static"


def as_sent(name: str) -> bytes:
    """A static file as the app sends it before compression: ours minified, vendored ones as published."""
    import minify

    original = (STATIC / name).read_bytes()
    if name.startswith("vendor/"):
        return original
    kind = "text/css" if name.endswith(".css") else "application/javascript"
    return minify.string(kind, original.decode()).encode()


def fetch(client, path: str, **headers) -> tuple[int, dict, bytes]:
    """Status, headers and body of a static file; the response closed, as a WSGI server closes it."""
    with client.get(path, headers=headers) as response:
        return response.status_code, dict(response.headers), response.get_data()


@pytest.mark.parametrize("name", ["field/app.js", "css/app.css", "vendor/idb-8.0.4/index.js"])
def test_text_files_are_sent_compressed_and_decompress_to_the_file(client, name):
    status, headers, body = fetch(client, f"/static/{name}", **{"Accept-Encoding": "br"})
    assert status == 200 and headers["Content-Encoding"] == "br" and "Accept-Encoding" in headers["Vary"]
    original = (STATIC / name).read_bytes()
    assert brotli.decompress(body) == as_sent(name) and len(body) < len(original) / 2


def test_a_browser_without_brotli_gets_gzip_and_one_asking_for_nothing_gets_the_file(client):
    status, headers, body = fetch(client, "/static/field/sync.js", **{"Accept-Encoding": "gzip"})
    assert headers["Content-Encoding"] == "gzip"
    status, headers, body = fetch(client, "/static/field/app.js", **{"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in headers and body == as_sent("field/app.js")


def test_our_scripts_and_styles_go_minified_and_the_vendored_ones_as_published(client, make_app):
    """The repository's files keep their comments (they say why); the phone gets them without: a quarter less on
    the wire for the shell. STATIC_MINIFY=0 sends them as written (reading the code in the browser's tools)."""
    for name, at_most in (("field/sync.js", 0.6), ("field/field.css", 0.85)):
        original = (STATIC / name).read_bytes()
        _, _, body = fetch(client, f"/static/{name}", **{"Accept-Encoding": "identity"})
        assert b"/*" not in body and b"\n  " not in body and len(body) < len(original) * at_most
        _, _, packed = fetch(client, f"/static/{name}", **{"Accept-Encoding": "br"})
        assert len(packed) < len(brotli.compress(original, quality=11)) * 0.9
    assert b"// " in (STATIC / "field/sync.js").read_bytes()
    _, _, vendored = fetch(client, "/static/vendor/idb-8.0.4/index.js", **{"Accept-Encoding": "identity"})
    assert vendored == (STATIC / "vendor/idb-8.0.4/index.js").read_bytes()
    written = make_app(STATIC_MINIFY=False).test_client()
    assert fetch(written, "/static/field/sync.js", **{"Accept-Encoding": "identity"})[2] == (
        STATIC / "field/sync.js").read_bytes()


def test_vendored_files_are_cached_for_a_year_and_the_others_revalidated(client):
    _, vendored, _ = fetch(client, "/static/vendor/signature_pad-5.1.4/signature_pad.min.js")
    assert vendored["Cache-Control"] == "public, max-age=31536000, immutable"
    _, own, _ = fetch(client, "/static/field/app.js", **{"Accept-Encoding": "br"})
    assert "immutable" not in own.get("Cache-Control", "") and own["ETag"]
    status, _, body = fetch(client, "/static/field/app.js", **{"Accept-Encoding": "br", "If-None-Match": own["ETag"]})
    assert status == 304 and not body


def test_static_files_are_packed_once_at_the_highest_setting_and_again_when_they_change(app, tmp_path, monkeypatch):
    """The same bytes go to every phone: packed once at brotli's highest quality (not the quick setting a page gets)
    and kept; a file that changes (a new ETag) is packed again, never served stale."""
    import app as app_module

    client = app.test_client()
    chromium = {"Accept-Encoding": "gzip, deflate, br, zstd"}
    original = as_sent("field/steps.js")
    _, headers, body = fetch(client, "/static/field/steps.js", **chromium)
    assert headers["Content-Encoding"] == "br" and brotli.decompress(body) == original
    assert len(body) == len(brotli.compress(original, quality=11)) < len(brotli.compress(original, quality=4))
    calls = []
    monkeypatch.setattr(brotli, "compress", lambda data, **kw: calls.append(kw) or b"x")
    assert fetch(client, "/static/field/steps.js", **chromium)[2] == body and calls == []  # kept, not packed again
    monkeypatch.undo()
    # A changed file (its ETag moves): packed again.
    changed = tmp_path / "static"
    (changed / "field").mkdir(parents=True)
    edited = (STATIC / "field/steps.js").read_bytes() + b"\nexport const changed = 1;\n"
    (changed / "field" / "steps.js").write_bytes(edited)
    monkeypatch.setattr(app, "static_folder", str(changed))
    monkeypatch.setattr(app_module, "_PACKED", dict(app_module._PACKED))
    _, headers, body = fetch(client, "/static/field/steps.js", **chromium)
    assert brotli.decompress(body).endswith(b"export const changed=1") and brotli.decompress(body) != original
