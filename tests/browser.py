"""Helpers for the tests that drive Debian's headless Chromium through Playwright (never a downloaded browser)."""
from __future__ import annotations

import shutil
import threading
from contextlib import contextmanager

import pytest
from werkzeug.serving import make_server

CHROMIUM = "/usr/bin/chromium"
# Flags that keep Chromium from reaching for Google's services on a machine with no such network.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True,
         "has_touch": True}


def require_chromium() -> None:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's Chromium with `apt-get install chromium` "
                    "(make test does this when it can)")


@contextmanager
def live_server(app):
    """Serve `app` on a free port of 127.0.0.1 in a background thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)


AXE = "/static/vendor/axe-core-4.14.1/axe.min.js"  # vendored from npm for the tests; never in the app shell
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page) -> list[str]:
    """axe-core's WCAG 2.2 AA and best-practice findings on the page as drawn now, one line per node.
    Loaded from this site (script-src 'self'), so the strict CSP holds."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(url=AXE)
    found = page.evaluate("""(tags) => axe.run(document, { runOnly: { type: 'tag', values: tags } })
        .then((r) => r.violations.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}`)))""",
                          AXE_TAGS)
    return found
