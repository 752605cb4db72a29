"""The field app's shell on the wire: the bytes a phone downloads to install (or update) the offline app, sent
plain (as before: Flask's static route, no compression) and compressed (Flask-Compress, as Chromium asks:
"gzip, deflate, br, zstd"), and the server time to answer each way.

    .venv/bin/python bench/bench_static.py

Target (issue 11): the shell sent compressed (28.8 KB gzip instead of 88.5 KB on the wire when measured then).
Also printed: the cache policy of each file (vendored files are versioned by their directory: a year, immutable).
"""
from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import create_app  # noqa: E402
from blueprints.field.routes import SHELL_FILES  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.enums import Role  # noqa: E402

PASSWORD = "bench-pass-1"
CHROMIUM = "gzip, deflate, br, zstd"
OLDER = "gzip, deflate"  # a browser without brotli or zstd
REPEAT = 15


def shell_urls(client) -> list[str]:
    """What the service worker precaches (its own list), plus the service worker itself."""
    sw = client.get("/sw.js").get_data(as_text=True)
    # Its PRECACHE list only: the barcode reader's files (SCANNER, 420 KB) are fetched when a page needs them.
    precache = sw.split("const PRECACHE = ", 1)[1].split(";", 1)[0]
    listed = re.findall(r'"(/(?:static|field)/[^"]*)"', precache)
    return sorted(set(listed) | {"/sw.js"}) or [f"/static/{name}" for name in SHELL_FILES]


def fetch_all(client, urls, encoding: str | None) -> tuple[int, dict[str, tuple[int, str | None, str]]]:
    total, rows = 0, {}
    for url in urls:
        response = client.get(url, headers={"Accept-Encoding": encoding} if encoding else {})
        body = response.get_data()
        total += len(body)
        rows[url] = (len(body), response.headers.get("Content-Encoding"), response.headers.get("Cache-Control", ""))
    return total, rows


def median_ms(fn) -> float:
    fn()
    times = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        results = {}
        for label, compress, minify in (("plain (before)", False, False), ("compressed only", True, False),
                                        ("compressed (after)", True, True)):
            app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/{compress}{minify}.db",
                              "RATELIMIT_ENABLED": False, "WTF_CSRF_ENABLED": False, "COMPRESS_REGISTER": compress,
                              "STATIC_MINIFY": minify})
            with app.app_context():
                db.create_all()
                accounts.create_user("bench-tech", PASSWORD, Role.TECHNICIAN, display_name="张工", via="cli")
                db.session.commit()
            client = app.test_client()
            client.post("/auth/login", data={"username": "bench-tech", "password": PASSWORD})
            urls = shell_urls(client)
            total, rows = fetch_all(client, urls, CHROMIUM)
            older_total, _ = fetch_all(client, urls, OLDER) if compress else (total, None)
            ms = median_ms(lambda client=client, urls=urls: fetch_all(client, urls, CHROMIUM))
            results[label] = (total, older_total, ms, rows)
        plain, packed = results["plain (before)"], results["compressed (after)"]
        unminified = results["compressed only"]
        # The two first runs send the files as written, one by one; the last one the phone's modules bundled
        # (blueprints/field/bundle.py), where esbuild is installed: "plain" is then the file as written, if any.
        print(f"{'file':58} {'plain':>8} {'sent':>8}  encoding  cache")
        for url, (sent, enc, cache) in packed[3].items():
            size = plain[3][url][0] if url in plain[3] else 0
            print(f"{url[:58]:58} {size:8d} {sent:8d}  {enc or '-':8}  {cache}")
        print(f"\nshell files: {len(plain[3])} as written, {len(packed[3])} as sent")
        print(f"bytes on the wire, plain (before):         {plain[0] / 1024:7.1f} KB")
        print(f"bytes on the wire, compressed, as written: {unminified[0] / 1024:7.1f} KB  (br; gzip "
              f"{unminified[1] / 1024:.1f} KB)")
        print(f"bytes on the wire, minified + compressed:  {packed[0] / 1024:7.1f} KB  (zstd/br, as Chromium asks; "
              f"{packed[0] / unminified[0]:.2f} of the files as written; target 40 KB)")
        print(f"bytes on the wire, browser without br/zstd:{packed[1] / 1024:7.1f} KB  (gzip)")
        print(f"ratio compressed / plain:                  {packed[0] / plain[0]:7.2f}")
        print(f"server time for the whole shell, plain:    {plain[2]:7.1f} ms (median of {REPEAT})")
        print(f"server time for the whole shell, compressed:{packed[2]:6.1f} ms (ratio {packed[2] / plain[2]:.2f})")


if __name__ == "__main__":
    main()
