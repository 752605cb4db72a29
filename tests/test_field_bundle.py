"""The phone's ES modules sent as one file (blueprints/field/bundle.py, issue 24): the page names the bundle, the
service worker precaches it in place of the modules inside it, a phone runs it and opens a job offline from its
cache; without esbuild the modules go one by one, as before. esbuild is installed by `make install`."""
from __future__ import annotations

import gzip
import json
import re

import brotli
import pytest
from playwright.sync_api import expect

from blueprints.field import bundle, routes
from domain.core.enums import Role

from .helpers import AuthActions, signed_in_app, step

BUNDLE_URL = "/static/field/app.bundle.js"
CSS_URL = "/static/field/app.bundle.css"
# The shell's modules that stay files of their own: early.js runs before the rest has arrived, the signature
# screen (with its pad) is imported when a customer signs, the bell's script is the office pages' too.
OWN_FILES = {"field/early.js", "field/signature.js", "vendor/signature_pad-5.1.4/signature_pad.min.js",
             "js/alerts.js"}
BUNDLED = {name for name in routes.SHELL_FILES if name.endswith(".js")} - OWN_FILES
STYLESHEETS = {"css/app.css", "field/field.css"}


def precached(client) -> list[str]:
    sw = client.get("/sw.js").get_data(as_text=True)
    return json.loads(sw.split("const PRECACHE = ", 1)[1].split(";", 1)[0])


def module_scripts(page: str) -> list[str]:
    return re.findall(r'<script type="module" src="([^"]+)"', page)


def stylesheets(page: str) -> list[str]:
    return re.findall(r'<link rel="stylesheet" href="([^"]+)"', page)


def test_esbuild_is_installed():
    assert bundle.esbuild_binary(), "esbuild is missing: `make install` installs it (package.json)"


def test_the_page_names_one_bundle_and_the_worker_precaches_it_instead_of_the_modules(client, signed_in):
    signed_in(Role.TECHNICIAN)
    page = client.get("/field/").get_data(as_text=True)
    assert module_scripts(page) == ["/static/field/early.js", BUNDLE_URL, "/static/js/alerts.js"]
    assert "modulepreload" not in page and stylesheets(page) == [CSS_URL]
    assert stylesheets(client.get("/field/offline").get_data(as_text=True)) == [CSS_URL]  # precached: the same
    shell = precached(client)
    assert {BUNDLE_URL, CSS_URL, "/static/field/signature.js", "/field/", "/field/offline"} <= set(shell)
    assert not {f"/static/{name}" for name in BUNDLED | STYLESHEETS} & set(shell)


def test_the_bundle_holds_the_shells_modules_and_imports_only_what_stays_a_file(client):
    with client.get(BUNDLE_URL, headers={"Accept-Encoding": "br"}) as response:
        assert response.status_code == 200 and response.mimetype == "text/javascript"
        assert response.headers["Content-Encoding"] == "br" and response.headers["Cache-Control"] == "no-cache"
        etag, code = response.headers["ETag"], brotli.decompress(response.get_data()).decode()
    made = bundle.bundled(bundle.esbuild_binary(), bundle.sources_stamp())
    assert BUNDLED | STYLESHEETS <= made.inputs and not OWN_FILES & made.inputs
    imported = set(re.findall(r'(?:from|import)\s*\(?"([^"]+)"', code))
    assert imported == {"./signature.js"}  # idb bundled in; the signature screen when a customer signs
    assert "../vendor/barcode-detector-3.2.2/ponyfill.js" in code  # the barcode reader: fetched when needed
    # Minified as one: comments out, the names the modules no longer export to each other shortened.
    assert len(code) < sum(len((routes.STATIC / name).read_bytes()) for name in BUNDLED) / 2
    with client.get(BUNDLE_URL, headers={"Accept-Encoding": "br", "If-None-Match": etag}) as again:
        assert again.status_code == 304
    with client.get(CSS_URL) as styles:  # both stylesheets, in their order (the phone's rules last)
        css = styles.get_data(as_text=True)
        assert styles.mimetype == "text/css" and 0 < css.index("--brand:") < css.index(".sync-status")


def test_the_shells_pages_are_packed_once_the_same_for_every_technician(app, make_user):
    """/field/ and /sw.js hold nothing personal: packed at brotli 11 once and kept (blueprints/field/routes.py
    _packed); a browser without brotli gets Flask-Compress's gzip."""
    sent = []
    for name in ("li", "wang"):
        make_user(Role.TECHNICIAN, name)
        client = app.test_client()
        assert AuthActions(client).login(name).status_code == 302
        page = client.get("/field/", headers={"Accept-Encoding": "gzip, deflate, br, zstd"})
        worker = client.get("/sw.js", headers={"Accept-Encoding": "br"})
        assert page.headers["Content-Encoding"] == worker.headers["Content-Encoding"] == "br"
        sent.append((page.get_data(), worker.get_data()))
        older = client.get("/field/", headers={"Accept-Encoding": "gzip"})
        assert older.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(older.get_data()) == brotli.decompress(page.get_data())
    assert sent[0] == sent[1]
    worker = brotli.decompress(sent[0][1]).decode()
    assert BUNDLE_URL in worker and "// " not in worker  # minified: the comments are out
    assert len(sent[0][0]) < len(brotli.compress(brotli.decompress(sent[0][0]), quality=4))


def test_without_esbuild_the_modules_go_one_by_one_as_before(client, signed_in, monkeypatch):
    monkeypatch.setattr(routes, "esbuild_binary", lambda: None)
    signed_in(Role.TECHNICIAN)
    page = client.get("/field/").get_data(as_text=True)
    assert module_scripts(page) == ["/static/field/early.js", "/static/field/app.js", "/static/js/alerts.js"]
    assert page.count('rel="modulepreload"') == len(routes.PRELOADED)
    assert stylesheets(page) == ["/static/css/app.css", "/static/field/field.css"]
    assert {f"/static/{name}" for name in routes.SHELL_FILES} <= set(precached(client))
    assert client.get(BUNDLE_URL).status_code == 404 and client.get(CSS_URL).status_code == 404


def test_a_bundle_that_fails_to_build_leaves_the_modules_as_they_are(tmp_path):
    broken = tmp_path / "esbuild"
    broken.write_text("#!/bin/sh\necho 'no such flag' >&2\nexit 1\n")
    broken.chmod(0o755)
    assert bundle.bundled(str(broken)) is None


@pytest.mark.browser
def test_a_phone_runs_the_bundle_and_opens_a_job_offline_from_its_cache(app, visit_job, phone):
    base, context, problems = phone
    page = signed_in_app(base, context)
    number = visit_job["number"]
    expect(page.get_by_text(number)).to_be_visible(timeout=10000)
    fetched = page.evaluate("performance.getEntriesByType('resource').map((entry) => new URL(entry.name).pathname)")
    assert {BUNDLE_URL, CSS_URL} <= set(fetched)
    assert not {"/static/field/ui.js", "/static/field/app.js", "/static/field/field.css"} & set(fetched)
    # The bundled stylesheet applied: the phone's rules (a round dot of the sync state) as the files gave them.
    assert page.locator("#sync-status .dot").evaluate("(dot) => getComputedStyle(dot).borderRadius") == "50%"

    context.set_offline(True)
    page.close()
    page = context.new_page()
    page.goto(base + "/field/")
    page.get_by_text(number).click()
    expect(step(page, "arrive")).to_have_attribute("aria-current", "step")
    assert problems == []
