"""The application factory.

    flask --app app run             # development server
    gunicorn 'app:create_app()'     # production
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

from flask import Flask, current_app, has_request_context, request
from flask_login import current_user
from sqlalchemy.orm import configure_mappers
from werkzeug.middleware.proxy_fix import ProxyFix

from domain.core.locales import SUPPORTED_LOCALES, app_locale
from extensions import babel, compress, csrf, db, limiter, login_manager, migrate, talisman
from settings import load_settings

# A strict policy: nothing inline, nothing from another origin. 'wasm-unsafe-eval' lets this site's own WebAssembly
# be compiled (the field app's barcode reader, static/vendor/barcode-detector-*), and allows no eval of JavaScript.
CONTENT_SECURITY_POLICY = {
    "default-src": "'self'",
    "script-src": ["'self'", "'wasm-unsafe-eval'"],
    "style-src": "'self'",
    "img-src": ["'self'", "data:", "blob:"],
    "font-src": "'self'",
    "connect-src": "'self'",
    "worker-src": "'self'",
    "manifest-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    from blueprints.core.transaction import TransactionalFlask

    instance_path = os.environ.get("INSTANCE_PATH") or None
    # The request owns the transaction (commit once at the end, roll back on error): see domain/core/uow.py.
    app = TransactionalFlask(__name__, instance_path=instance_path, instance_relative_config=True)
    os.makedirs(app.instance_path, exist_ok=True)
    app.config.from_mapping(load_settings(app.instance_path))
    if config:
        app.config.from_mapping(config)
        if app.config.get("TESTING") and "HUEY_IMMEDIATE" not in config:
            app.config["HUEY_IMMEDIATE"] = True  # tests run background tasks at once, in the caller
    if os.environ.get("BEHIND_PROXY"):
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)

    register_hygiene(app)
    register_extensions(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_template_helpers(app)
    register_commands(app)
    register_worker(app)
    install_settings(app)
    # The models' mappers configured now, once per process, rather than by the first query of the first request
    # a (gunicorn) worker serves: that request took 0.1 s longer on 2 cores.
    configure_mappers()
    return app


def install_settings(app: Flask) -> None:
    """The deployment's typed settings, built once from the finished config (a bad value stops the start, naming
    the variable) and kept on the app; the domain is given them, never reads the app (domain/core/settings.py).
    Called again only by a test that changes a setting of a running app."""
    from blueprints.core.helpers import current_settings
    from domain.core import settings

    app.extensions[settings.APP_KEY] = settings.Settings.from_config(app.config, templates=app.jinja_env)
    settings.provide(current_settings)


def select_locale() -> str:
    if not has_request_context():  # CLI commands: the configured default
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if current_user.is_authenticated and current_user.locale in SUPPORTED_LOCALES:
        return current_user.locale
    chosen = request.cookies.get("lang")
    if chosen in SUPPORTED_LOCALES:
        return chosen
    # The team is Chinese-speaking: Chinese unless the browser asks for English first.
    return app_locale(request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN"))


def register_hygiene(app: Flask) -> None:
    from blueprints.core.hygiene import register

    register(app)


def register_extensions(app: Flask) -> None:
    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(__file__), "migrations"))
    csrf.init_app(app)
    babel.init_app(app, locale_selector=select_locale, timezone_selector=lambda: app.config["TIMEZONE"])
    limiter.init_app(app)
    talisman.init_app(
        app,
        force_https=app.config["FORCE_HTTPS"],
        strict_transport_security=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy=CONTENT_SECURITY_POLICY,
        frame_options="DENY",
        referrer_policy="same-origin",
        permissions_policy={"geolocation": "(self)", "microphone": "()", "camera": "(self)"},  # arrival: where
    )

    # Text answers (the app shell's scripts and styles above all: a phone on a poor network pays for them at every
    # install and update) are sent compressed: zstd, brotli or gzip, as the browser accepts.
    app.config.setdefault("COMPRESS_MIMETYPES", COMPRESSED_TYPES)
    # Brotli first: at the quick settings it packs text smaller than zstd (the shell's HTML: 10% less).
    app.config.setdefault("COMPRESS_ALGORITHM", ["br", "zstd", "gzip", "deflate"])
    compress.init_app(app)
    app.after_request(prepare_static)  # registered after: runs before the compressor

    from blueprints.auth.session import init_login_manager

    init_login_manager(app, login_manager)


COMPRESSED_TYPES = ["text/html", "text/css", "text/plain", "text/javascript", "application/javascript",
                    "application/json", "application/manifest+json", "image/svg+xml", "application/wasm"]
# A vendored library's directory names its version (static/vendor/NAME-VERSION/): its files never change under
# their URL, so browsers keep them for a year without asking again. Other static files are revalidated (ETag).
VERSIONED_STATIC = re.compile(r"^/static/vendor/[a-z0-9_.-]+-\d+(\.\d+)*/")
# Answers packed as static files: the static folder's, and the phone's modules bundled (blueprints/field/bundle.py).
PACKED_ENDPOINTS = frozenset({"static", "field.bundle"})


def prepare_static(response):
    """Runs before the compressor: a static file is read into memory (they are small), so that it is compressed
    whole with any algorithm the browser accepts, and closed as soon as it is read (not when the server closes the
    response: a client gone meanwhile left it open until the garbage collector came); a versioned one is cached
    for a year."""
    if request.endpoint not in PACKED_ENDPOINTS:
        return response
    if response.status_code == 200 and (response.direct_passthrough or request.endpoint != "static"):
        response.direct_passthrough = False
        close_file = getattr(response.response, "close", None)
        response.make_sequence()
        if close_file is not None:
            close_file()
        _pack_static(response)
    if response.status_code in (200, 304) and VERSIONED_STATIC.match(request.path):
        response.headers["Cache-Control"] = "public, max-age=31536000, immutable"
    return response


# Static files are the same bytes for every phone: each is made once per process and kept. Our own scripts and
# styles are minified (tdewolff/minify: comments and indentation out, local names shortened; the files in the
# repository keep their comments, which say why), then compressed at the highest setting (brotli 11, else gzip 9)
# rather than at the quick setting a page answered once needs (Flask-Compress: brotli 4, zstd 3). Keyed by the
# file's ETag: a changed file is made again. Vendored files are sent as published.
_PACKED: dict[tuple[str, str, str, bool], bytes] = {}
MINIFIED_TYPES = {"text/javascript": "application/javascript", "application/javascript": "application/javascript",
                  "text/css": "text/css"}


def _minified(data: bytes, mimetype: str) -> bytes:
    try:
        import minify
    except ImportError:  # no wheel for this platform: the files go as written, only compressed
        return data
    try:
        return minify.string(MINIFIED_TYPES[mimetype], data.decode()).encode()
    except (ValueError, UnicodeDecodeError) as error:  # a syntax the minifier does not know: the file as written
        current_app.logger.warning("static file %s sent unminified: %s", request.path, error)
        return data


def _pack_static(response) -> None:
    import gzip

    import brotli

    accepted = {part.split(";")[0].strip().lower() for part in request.headers.get("Accept-Encoding", "").split(",")
                if not part.replace(" ", "").endswith(";q=0")}
    encoding = "br" if "br" in accepted else "gzip" if "gzip" in accepted else None
    if not current_app.config.get("COMPRESS_REGISTER", True):  # compression turned off (a baseline's measure)
        encoding = None
    minify = (response.mimetype in MINIFIED_TYPES and current_app.config.get("STATIC_MINIFY", True)
              and request.endpoint == "static" and not request.path.startswith("/static/vendor/"))
    etag, weak = response.get_etag()
    if not etag or "Content-Encoding" in response.headers or not (minify or (
            encoding and response.mimetype in COMPRESSED_TYPES and (response.content_length or 0) >= 500)):
        return
    key = (request.path, etag, encoding or "identity", minify)
    packed = _PACKED.get(key)
    if packed is None:
        data = response.get_data()
        if minify:
            data = _minified(data, response.mimetype)
        if encoding == "br":
            # Brotli 11 takes 5 s on the 1.1 MB barcode reader's WebAssembly; 9 takes 0.1 s and packs it 14% larger.
            data = brotli.compress(data, quality=11 if len(data) < 256 * 1024 else 9)
        elif encoding == "gzip":
            data = gzip.compress(data, 9, mtime=0)
        if len(_PACKED) > 500:  # (a bound: the static files are a few dozen)
            _PACKED.clear()
        packed = _PACKED[key] = data
    response.set_data(packed)
    if encoding:
        response.headers["Content-Encoding"] = encoding
        response.set_etag(f"{etag}:{encoding}", weak=weak)
    response.vary.add("Accept-Encoding")
    response.make_conditional(request)


def register_blueprints(app: Flask) -> None:
    from blueprints.admin import bp as admin_bp
    from blueprints.alerts import api_bp as alerts_api_bp
    from blueprints.alerts import bp as alerts_bp
    from blueprints.auth import api_bp as auth_api_bp
    from blueprints.auth import bp as auth_bp
    from blueprints.core import bp as core_bp
    from blueprints.customer import bp as customer_bp
    from blueprints.devices import api_bp as devices_api_bp
    from blueprints.devices import bp as devices_bp
    from blueprints.dispatch import api_bp as dispatch_api_bp
    from blueprints.dispatch import bp as dispatch_bp
    from blueprints.field import api_bp as field_api_bp
    from blueprints.field import bp as field_bp
    from blueprints.kb import bp as kb_bp
    from blueprints.orders import bp as orders_bp
    from blueprints.reports import api_bp as reports_api_bp
    from blueprints.reports import bp as reports_bp

    app.register_blueprint(core_bp)
    app.register_blueprint(auth_bp, url_prefix="/auth")
    app.register_blueprint(auth_api_bp)
    app.register_blueprint(admin_bp, url_prefix="/admin")
    app.register_blueprint(dispatch_bp, url_prefix="/dispatch")
    app.register_blueprint(dispatch_api_bp)
    app.register_blueprint(devices_bp, url_prefix="/devices")
    app.register_blueprint(devices_api_bp)
    app.register_blueprint(orders_bp)
    app.register_blueprint(field_api_bp)
    app.register_blueprint(field_bp)
    app.register_blueprint(reports_bp, url_prefix="/reports")
    app.register_blueprint(reports_api_bp)
    app.register_blueprint(kb_bp, url_prefix="/kb")
    app.register_blueprint(alerts_bp)
    app.register_blueprint(alerts_api_bp)
    app.register_blueprint(customer_bp)


def register_errorhandlers(app: Flask) -> None:
    from blueprints.core.errors import register

    register(app)


def register_template_helpers(app: Flask) -> None:
    from blueprints.core.helpers import register

    register(app)


def register_commands(app: Flask) -> None:
    from commands import register

    register(app)


def register_worker(app: Flask) -> None:
    import worker

    worker.configure(app)
