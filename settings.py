"""Settings read from the environment, with safe defaults for a first run.

Every variable is documented in README.md ("Configuration").
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _flag(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return int(value)
    except ValueError:
        raise RuntimeError(f"{name} must be a whole number, got {value!r}") from None


def instance_secret_key(instance_path: str) -> str:
    """SECRET_KEY from the environment, else one generated once and kept in the instance folder."""
    from_env = os.environ.get("SECRET_KEY")
    if from_env:
        return from_env
    path = Path(instance_path) / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Exclusive create: two workers starting at once keep the first key written.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_hex(32))
    return path.read_text().strip()


def database_url(instance_path: str) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        # Hosting platforms often hand out postgres:// URLs; SQLAlchemy wants the driver named.
        if url.startswith("postgres://"):
            url = "postgresql+psycopg://" + url[len("postgres://"):]
        elif url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://"):]
        return url
    return f"sqlite:///{Path(instance_path) / 'fieldservice.db'}"


def load_settings(instance_path: str) -> dict:
    timezone = os.environ.get("TIMEZONE", "Asia/Shanghai")
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise RuntimeError(f"TIMEZONE {timezone!r} is not a known IANA time zone") from None
    secure_cookies = _flag("SECURE_COOKIES", _flag("FORCE_HTTPS"))
    max_upload_mb = _int("MAX_UPLOAD_MB", 20)
    smtp_tls = (os.environ.get("SMTP_TLS") or "starttls").strip().lower()
    sms_provider = (os.environ.get("SMS_PROVIDER") or "").strip().lower()
    if sms_provider not in {"", "aliyun", "tencent"}:
        raise RuntimeError(f"SMS_PROVIDER must be aliyun or tencent (or unset), got {sms_provider!r}")
    if smtp_tls not in {"starttls", "ssl", "off"}:
        raise RuntimeError(f"SMTP_TLS must be starttls, ssl or off, got {smtp_tls!r}")
    return {
        "SECRET_KEY": instance_secret_key(instance_path),
        "SQLALCHEMY_DATABASE_URI": database_url(instance_path),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "TIMEZONE": timezone,
        "COMPANY_NAME": os.environ.get("COMPANY_NAME", "直播设备租赁技术支持部"),
        "COMPANY_LOGO": os.environ.get("COMPANY_LOGO") or None,
        # The address printed in the service order's QR code (verification page).
        "PUBLIC_URL": os.environ.get("PUBLIC_URL", "http://127.0.0.1:5000"),
        # The customer service number printed on device labels and shown on the customer's report pages.
        "SERVICE_PHONE": os.environ.get("SERVICE_PHONE", ""),
        # How long a customer's download link stays valid.
        "SHARE_LINK_DAYS": _int("SHARE_LINK_DAYS", 30),
        # Uploads: the whole request, and one photo before it is downscaled.
        "MAX_CONTENT_LENGTH": max_upload_mb * 1024 * 1024,
        "PHOTO_MAX_BYTES": _int("PHOTO_MAX_MB", 15) * 1024 * 1024,
        "PHOTO_MAX_PIXELS": _int("PHOTO_MAX_MEGAPIXELS", 50) * 1_000_000,
        # The customer's report page (no account): photos smaller than the staff's, and rate limits per address
        # and per device label.
        "REPORT_PHOTO_MAX_BYTES": _int("REPORT_PHOTO_MAX_MB", 6) * 1024 * 1024,
        "REPORT_PHOTO_MAX_PIXELS": _int("REPORT_PHOTO_MAX_MEGAPIXELS", 25) * 1_000_000,
        "REPORT_RATE_LIMIT": os.environ.get("REPORT_RATE_LIMIT", "5 per minute;20 per hour"),
        "REPORT_DEVICE_RATE_LIMIT": os.environ.get("REPORT_DEVICE_RATE_LIMIT", "10 per hour"),
        "SYNC_MAX_OPS": _int("SYNC_MAX_OPS", 200),
        "SYNC_MAX_BYTES": _int("SYNC_MAX_KB", 2048) * 1024,
        # Sign-in: technicians stay signed in on their phone for REMEMBER_DAYS.
        "REMEMBER_COOKIE_DURATION": timedelta(days=_int("REMEMBER_DAYS", 30)),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "REMEMBER_COOKIE_SAMESITE": "Lax",
        "REMEMBER_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_SECURE": secure_cookies,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=_int("SESSION_HOURS", 12)),
        "FORCE_HTTPS": _flag("FORCE_HTTPS"),
        "LOGIN_RATE_LIMIT": os.environ.get("LOGIN_RATE_LIMIT", "10 per minute;60 per hour"),
        "LOGIN_USER_RATE_LIMIT": os.environ.get("LOGIN_USER_RATE_LIMIT", "100 per hour"),
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        "RATELIMIT_HEADERS_ENABLED": True,
        # CSRF tokens are tied to the session, not a clock: a form left open on a phone still submits.
        "WTF_CSRF_TIME_LIMIT": None,
        "BABEL_DEFAULT_LOCALE": "zh_CN",
        "BABEL_DEFAULT_TIMEZONE": timezone,
        "BABEL_TRANSLATION_DIRECTORIES": str(Path(__file__).parent / "translations"),
        # Background work (worker.py): tests set HUEY_IMMEDIATE to run tasks at once, in the caller.
        "HUEY_IMMEDIATE": _flag("HUEY_IMMEDIATE"),
        "HUEY_REDIS_URL": os.environ.get("HUEY_REDIS_URL") or None,
        "WORKER_MAX_TASKS": _int("WORKER_MAX_TASKS", 100),
        # A task process is replaced once it grew this many percent over its size after warm-up (0: never).
        "WORKER_MAX_GROWTH": _int("WORKER_MAX_GROWTH", 8),
        # The worker's CPU priority below the web servers' (nice): renders yield to answers on a shared machine.
        "WORKER_NICE": _int("WORKER_NICE", 10),
        # Mail: with no SMTP_HOST mail is written to the log and kept in the outbox.
        "SMTP_HOST": os.environ.get("SMTP_HOST") or None,
        "SMTP_PORT": _int("SMTP_PORT", 587),
        "SMTP_USER": os.environ.get("SMTP_USER") or None,
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD") or None,
        "SMTP_TLS": (os.environ.get("SMTP_TLS") or "starttls").strip().lower(),
        "MAIL_FROM": os.environ.get("MAIL_FROM") or "fieldservice@localhost",
        "WEEKLY_REPORT_TO": os.environ.get("WEEKLY_REPORT_TO") or "",
        # Web Push: the push services' hosts a subscription may name (replaces the built-in list).
        "PUSH_ENDPOINTS_ALLOWED": os.environ.get("PUSH_ENDPOINTS_ALLOWED") or None,
        # Group robots: hosts a webhook may name instead of the platforms' own (tests, private deployments);
        # a host listed here may use plain http.
        "CHANNEL_HOSTS_ALLOWED": os.environ.get("CHANNEL_HOSTS_ALLOWED") or None,
        # How long a sender holds a robot, and a post whose answer never came counts as in flight (seconds).
        "CHANNEL_CLAIM_SECONDS": _int("CHANNEL_CLAIM_SECONDS", 120),
        # SMS: aliyun | tencent (none: SMS off, messages kept in the outbox); SMS_ENDPOINT replaces the provider's
        # address (tests); template codes per message kind are set on the admin page.
        "SMS_PROVIDER": (os.environ.get("SMS_PROVIDER") or "").strip().lower() or None,
        "SMS_ENDPOINT": os.environ.get("SMS_ENDPOINT") or None,
        "SMS_ACCESS_KEY_ID": os.environ.get("SMS_ACCESS_KEY_ID") or None,
        "SMS_ACCESS_KEY_SECRET": os.environ.get("SMS_ACCESS_KEY_SECRET") or None,
        "SMS_SIGN_NAME": os.environ.get("SMS_SIGN_NAME") or None,
        "SMS_SDK_APP_ID": os.environ.get("SMS_SDK_APP_ID") or None,
        "SMS_DAILY_CAP": _int("SMS_DAILY_CAP", 50),
        # The secret in the URL the provider calls with the customers' replies (STOP / 退订): none, no endpoint.
        "SMS_CALLBACK_TOKEN": os.environ.get("SMS_CALLBACK_TOKEN") or None,
        # "On my way": the arrival the phone proposes when the agreed time has passed (now + these minutes).
        "ON_THE_WAY_MINUTES": _int("ON_THE_WAY_MINUTES", 30),
        # The Web Push signing key (PEM text); none: generated once into the instance folder.
        "VAPID_PRIVATE_KEY": os.environ.get("VAPID_PRIVATE_KEY") or None,
        "VAPID_SUBJECT": os.environ.get("VAPID_SUBJECT") or "mailto:" + (os.environ.get("MAIL_FROM")
                                                                          or "fieldservice@localhost"),
        # The company seal on every service order (PAdES): a PKCS#12 file and its password; without one a
        # self-signed certificate is generated into the instance folder at first use. TSA_URL: an RFC 3161
        # time-stamping authority whose time the seal carries (none: sealed with the server's time).
        "SEAL_PKCS12": os.environ.get("SEAL_PKCS12") or None,
        "SEAL_PASSWORD": os.environ.get("SEAL_PASSWORD") or None,
        "TSA_URL": os.environ.get("TSA_URL") or None,
        # The customer also confirms their signature with a code sent by SMS to their mobile number (issue 23).
        "SIGNING_SMS_CODE": _flag("SIGNING_SMS_CODE"),
        "INSTANCE_PATH_FOR_KEYS": instance_path,
    }
