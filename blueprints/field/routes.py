"""The offline app's pages: the shell, the service worker at the site root, the manifest, the offline page."""
from __future__ import annotations

import hashlib
import json
from functools import cache
from pathlib import Path

from flask import abort, current_app, make_response, render_template, request, url_for
from jinja2.utils import htmlsafe_json_dumps
from markupsafe import Markup

from domain.core.enums import Role
from domain.fieldwork import smscode
from domain.fieldwork.phone import phone_rules
from domain.sla.policy import current_policy

from ..access import public, roles_required
from ..core.helpers import current_settings
from . import bp
from .bundle import CSS_NAME, NAME, STYLESHEETS, Bundle, bundled, esbuild_binary, sources_stamp
from .strings import strings_for_page

STATIC = Path(__file__).resolve().parent.parent.parent / "static"
# The app shell: precached by the service worker so the app opens with no network.
SHELL_FILES = ["field/early.js", "field/app.js", "field/ui.js", "field/acts.js", "field/lists.js", "field/job.js",
               "field/steps.js",
               "field/photos.js", "field/exceptions.js", "field/devices.js", "field/customer.js", "field/smscode.js",
               "field/store.js", "field/sync.js", "field/flow.js", "field/effects.js", "field/rules.js",
               "field/signature.js",
               "field/field.css",
               "css/app.css", "vendor/idb-8.0.4/index.js", "vendor/signature_pad-5.1.4/signature_pad.min.js",
               "img/icon.svg",  # the header's (the manifest's PNG icons are fetched when the app is installed)
               "js/alerts.js"]  # the bell and Web Push (blueprints/alerts)
# The modules the first screen imports, named in the page for the browser to fetch at once (modulepreload): else it
# finds them level by level through the imports (app.js -> job.js -> steps.js -> ...), a round trip per level,
# which on a basement's 400 ms link was most of the first load. The signature pad is imported when a customer signs.
PRELOADED = [name for name in SHELL_FILES if name.endswith(".js") and name not in (
    "field/early.js", "field/app.js", "js/alerts.js", "field/signature.js",
    "vendor/signature_pad-5.1.4/signature_pad.min.js")]
# The barcode reader for browsers with no BarcodeDetector of their own (static/field/devices.js): the ZXing
# polyfill, 1.1 MB with its WebAssembly (about 420 KB compressed), is not in the shell: it would multiply the first
# load several times over for every phone, and Chromium on Android never needs it. The service worker keeps it in a
# cache of its own when a page that needs it asks ("keep-scanner", once the app is open), so that scanning works
# offline later; its URLs are versioned, so it is kept across shell versions.
SCANNER_FILES = ["vendor/barcode-detector-3.2.2/ponyfill.js", "vendor/barcode-detector-3.2.2/zxing-exported.js",
                 "vendor/barcode-detector-3.2.2/zxing_reader.wasm"]
TEMPLATES = Path(__file__).resolve().parent / "templates" / "field"


def current_bundle() -> Bundle | None:
    """The phone's modules as one file (blueprints/field/bundle.py), unless turned off (STATIC_BUNDLE, or
    STATIC_MINIFY for reading the code as written) or esbuild is not there."""
    config = current_app.config
    if not (config.get("STATIC_BUNDLE", True) and config.get("STATIC_MINIFY", True)):
        return None
    return bundled(esbuild_binary(), sources_stamp())


def shell_files() -> list[str]:
    """What the service worker precaches from static/: the bundle in place of the files inside it."""
    made = current_bundle()
    if made is None:
        return SHELL_FILES
    return [name for name in SHELL_FILES if name not in made.inputs] + [NAME, CSS_NAME]


def page_files() -> dict:
    """The script and the stylesheets the app's pages name: the bundles, else the files as written."""
    if current_bundle() is None:
        return {"main_script": "field/app.js", "stylesheets": STYLESHEETS, "preloaded": PRELOADED}
    return {"main_script": NAME, "stylesheets": [CSS_NAME], "preloaded": []}


@cache
def shell_version() -> str:
    """Changes whenever a shell file or template changes: a new service worker, then "update available"."""
    digest = hashlib.sha256()
    for name in SHELL_FILES:
        digest.update((STATIC / name).read_bytes())
    digest.update(json.dumps(shell_files()).encode())  # bundled or not: the worker precaches other files
    for path in sorted(TEMPLATES.glob("*")):
        digest.update(path.read_bytes())
    digest.update((Path(__file__).parent / "strings.py").read_bytes())
    # The declarations the page embeds, less the labels (in the reader's language; the catalogs carry them).
    rules = _rules()
    rules["ops"] = {name: {**kind, "label": None} for name, kind in rules["ops"].items()}
    digest.update(json.dumps(rules, sort_keys=True).encode())
    return digest.hexdigest()[:12]


def _rules() -> dict:
    settings = current_settings()
    return phone_rules(max_ops=settings.sync.max_ops, max_bytes=settings.sync.max_bytes,
                       on_the_way_minutes=settings.sync.on_the_way_minutes,
                       policy=current_policy(), signing_sms_code=smscode.required(settings.site))


def _embedded(data: dict) -> Markup:
    """JSON for a <script type="application/json"> of the page: Chinese as UTF-8 (3 bytes a character; Flask's
    tojson writes each as a 6-byte \\uXXXX: the page was 36.6 KB, 27.0 KB so), compact, and < > & ' escaped as
    tojson does, so that nothing in a string can close the script."""
    return Markup(htmlsafe_json_dumps(data, ensure_ascii=False, separators=(",", ":")))


@bp.get("/field/")
@roles_required(Role.TECHNICIAN)
def app():
    strings = strings_for_page()
    return _packed(render_template("field/app.html", strings=strings, strings_json=_embedded(strings),
                                   rules_json=_embedded(_rules()), version=shell_version(), **page_files()),
                   "text/html")


# The shell's pages and the service worker are the same for every technician with the same language, settings
# and shell (nothing personal in them: the bell's count and the jobs come later, by script), so each text is packed
# once at brotli's highest setting and kept, as the static files are (app.py _pack_static), keyed by its digest:
# the jobs page 9.3 -> 7.3 KB for 25 ms once, where Flask-Compress's quick setting (brotli 4) is paid at every
# load; the service worker also minified (2.2 -> 1.2 KB). A browser without brotli gets Flask-Compress's answer.
_PACKED_TEXTS: dict[tuple[str, bool], bytes] = {}


def _packed(text: str, mimetype: str, *, minify: bool = False):
    response = make_response(text)
    response.mimetype = mimetype
    if not current_app.config.get("COMPRESS_REGISTER", True) or request.accept_encodings["br"] <= 0:
        return response
    key = (hashlib.sha256(text.encode()).hexdigest(), minify)
    packed = _PACKED_TEXTS.get(key)
    if packed is None:
        import brotli

        data = text.encode()
        if minify:
            data = _minified(data)
        packed = brotli.compress(data, quality=11)
        if len(_PACKED_TEXTS) > 64:  # (a bound: one page per language and shell version)
            _PACKED_TEXTS.clear()
        _PACKED_TEXTS[key] = packed
    response.set_data(packed)
    response.headers["Content-Encoding"] = "br"
    response.vary.add("Accept-Encoding")
    return response


def _minified(data: bytes) -> bytes:
    try:
        import minify

        return minify.string("application/javascript", data.decode()).encode()
    except (ImportError, ValueError) as error:  # no wheel for this platform, or a syntax it does not know
        current_app.logger.warning("service worker sent unminified: %s", error)
        return data


@bp.get("/static/field/app.bundle.<any(js, css):kind>")
@public
def bundle(kind: str):
    """A bundle, as a static file (app.py prepare_static compresses it once and answers If-None-Match)."""
    made = current_bundle()
    if made is None:
        abort(404)
    name = NAME if kind == "js" else CSS_NAME
    response = make_response(made.files[name])
    response.mimetype = "text/javascript" if kind == "js" else "text/css"
    response.set_etag(made.etag(name))
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/field/offline")
@public
def offline():
    return _packed(render_template("field/offline.html", strings=strings_for_page(), **page_files()), "text/html")


@bp.get("/field/manifest.webmanifest")
@public
def manifest():
    return _packed(render_template("field/manifest.webmanifest", company=current_settings().site.company),
                   "application/manifest+json")


@bp.get("/sw.js")
@public
def service_worker():
    """Served from the site root; it registers with the scope /field/ (the offline app, nothing else)."""
    precache = [url_for("static", filename=name) for name in shell_files()] + ["/field/", "/field/offline",
                                                                              "/field/manifest.webmanifest"]
    scanner = [url_for("static", filename=name) for name in SCANNER_FILES]
    response = _packed(render_template("field/sw.js", version=shell_version(), precache=precache, scanner=scanner),
                       "application/javascript", minify=current_app.config.get("STATIC_MINIFY", True))
    response.headers["Cache-Control"] = "no-cache"
    return response
