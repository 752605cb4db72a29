"""The deployment's settings, typed, read once: the one way the domain knows how it is configured.

The app factory builds a `Settings` from its config (`Settings.from_config`, which settings.py at the top level
filled from the environment: README.md "Configuration") after every override is in, and keeps it on the app; the
web layer and the worker hand it, or the part a function needs, to the domain (`TaskEnv.settings`, `settings.mail`,
`settings.sms`, ...). Each value is parsed and checked here: a bad one stops the start with a message naming the
variable, never a task failing at 3 a.m. This module is the only one under domain/ that reads a config mapping
(tests/test_structure.py).

A Context built without a Site (the sync applier, demo data, tests) gets this deployment's through the one provider
the app installs (`provide`); see site.py.
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formataddr
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from jinja2 import Environment

from .site import Site

# Where the app keeps its Settings (app.extensions[APP_KEY]): the web layer and the worker read it there.
APP_KEY = "fieldservice.settings"

SMTP_TLS_MODES = ("starttls", "ssl", "off")
SMS_PROVIDERS = ("aliyun", "tencent")
DEFAULT_SENDER = formataddr(("fieldservice", "fieldservice@localhost"))


class SettingsError(RuntimeError):
    """A setting that cannot be used, named in the message (raised while the app starts)."""


@dataclass(frozen=True)
class MailSettings:
    host: str | None  # SMTP_HOST; None: mail is written to the log and kept in the outbox ("held")
    port: int  # SMTP_PORT
    tls: str  # SMTP_TLS: starttls | ssl | off
    user: str | None  # SMTP_USER
    password: str | None  # SMTP_PASSWORD
    sender: str  # MAIL_FROM
    weekly_report_to: tuple[str, ...] = ()  # WEEKLY_REPORT_TO, comma-separated


@dataclass(frozen=True)
class SmsSettings:
    provider: str | None  # SMS_PROVIDER: aliyun | tencent | None (SMS off, messages kept in the outbox)
    access_key_id: str = ""  # SMS_ACCESS_KEY_ID
    access_key_secret: str = ""  # SMS_ACCESS_KEY_SECRET
    sign_name: str = ""  # SMS_SIGN_NAME
    endpoint: str | None = None  # SMS_ENDPOINT: replaces the provider's address (tests)
    app_id: str = ""  # SMS_SDK_APP_ID (Tencent)
    daily_cap: int = 50  # SMS_DAILY_CAP: messages of one template to one number per day
    callback_token: str | None = None  # SMS_CALLBACK_TOKEN: the secret in the replies' URL; None: no endpoint


@dataclass(frozen=True)
class PushSettings:
    vapid_subject: str  # VAPID_SUBJECT
    key_folder: str | None  # where the VAPID key is generated and kept (the instance folder)
    private_key: str | None = None  # VAPID_PRIVATE_KEY (PEM text): replaces the generated key file
    endpoints_allowed: tuple[str, ...] = ()  # PUSH_ENDPOINTS_ALLOWED; empty: the known push services


@dataclass(frozen=True)
class ChannelSettings:
    claim_seconds: int = 120  # CHANNEL_CLAIM_SECONDS: how long a sender holds a robot, a post counts as in flight
    hosts_allowed: tuple[str, ...] = ()  # CHANNEL_HOSTS_ALLOWED; empty: the platforms' own hosts

    @property
    def claim_for(self) -> timedelta:
        return timedelta(seconds=self.claim_seconds)


@dataclass(frozen=True)
class SyncSettings:
    """What the phone may send at once, and what it proposes ("on my way")."""
    max_ops: int = 200  # SYNC_MAX_OPS
    max_bytes: int = 2048 * 1024  # SYNC_MAX_KB
    on_the_way_minutes: int = 30  # ON_THE_WAY_MINUTES


@dataclass(frozen=True)
class UploadSettings:
    """One photo before it is downscaled: the staff's, and the customer's report page's (smaller)."""
    photo_max_bytes: int = 15 * 1024 * 1024  # PHOTO_MAX_MB
    photo_max_pixels: int = 50_000_000  # PHOTO_MAX_MEGAPIXELS
    report_photo_max_bytes: int = 6 * 1024 * 1024  # REPORT_PHOTO_MAX_MB
    report_photo_max_pixels: int = 25_000_000  # REPORT_PHOTO_MAX_MEGAPIXELS


@dataclass(frozen=True)
class Settings:
    site: Site  # the company, PUBLIC_URL, the signing key, TIMEZONE, the print templates, the seal
    locale: str  # BABEL_DEFAULT_LOCALE: the language of what no single reader's choice decides (robots, reports)
    mail: MailSettings
    sms: SmsSettings
    push: PushSettings
    channels: ChannelSettings
    sync: SyncSettings
    uploads: UploadSettings

    @property
    def tz(self) -> ZoneInfo:
        return self.site.tz

    @classmethod
    def from_config(cls, config: Mapping[str, Any], templates: Environment | None = None) -> Settings:
        """Every value parsed and checked; a SettingsError names the variable that cannot be used."""
        read = _Reader(config)
        key_folder = read.text("INSTANCE_PATH_FOR_KEYS")
        mail_from = read.text("MAIL_FROM")
        site = Site(company=read.text("COMPANY_NAME") or "", public_url=(read.text("PUBLIC_URL") or "").rstrip("/"),
                    secret_key=read.required("SECRET_KEY"), tz=read.zone("TIMEZONE"),
                    share_link_days=read.whole("SHARE_LINK_DAYS", 30), logo_path=read.text("COMPANY_LOGO"),
                    templates=templates, service_phone=read.text("SERVICE_PHONE") or "",
                    seal_pkcs12=read.text("SEAL_PKCS12"), seal_password=read.text("SEAL_PASSWORD"),
                    tsa_url=read.text("TSA_URL"), signing_sms_code=read.flag("SIGNING_SMS_CODE"),
                    instance_path=key_folder)
        mail = MailSettings(host=read.text("SMTP_HOST"), port=read.whole("SMTP_PORT", 587),
                            tls=read.choice("SMTP_TLS", SMTP_TLS_MODES) or "starttls",
                            user=read.text("SMTP_USER"), password=read.text("SMTP_PASSWORD"),
                            sender=mail_from or DEFAULT_SENDER, weekly_report_to=read.listed("WEEKLY_REPORT_TO"))
        sms = SmsSettings(provider=read.choice("SMS_PROVIDER", SMS_PROVIDERS),
                          access_key_id=read.text("SMS_ACCESS_KEY_ID") or "",
                          access_key_secret=read.text("SMS_ACCESS_KEY_SECRET") or "",
                          sign_name=read.text("SMS_SIGN_NAME") or "", endpoint=read.text("SMS_ENDPOINT"),
                          app_id=read.text("SMS_SDK_APP_ID") or "",
                          daily_cap=read.whole("SMS_DAILY_CAP", 50, zero_is_default=True),
                          callback_token=read.text("SMS_CALLBACK_TOKEN"))
        push = PushSettings(vapid_subject=read.text("VAPID_SUBJECT")
                            or "mailto:" + (mail_from or "fieldservice@localhost"),
                            key_folder=key_folder, private_key=read.text("VAPID_PRIVATE_KEY"),
                            endpoints_allowed=read.listed("PUSH_ENDPOINTS_ALLOWED", lower=True))
        channels = ChannelSettings(claim_seconds=read.whole("CHANNEL_CLAIM_SECONDS", 120, zero_is_default=True),
                                   hosts_allowed=read.listed("CHANNEL_HOSTS_ALLOWED", lower=True))
        sync = SyncSettings(max_ops=read.whole("SYNC_MAX_OPS", 200),
                            max_bytes=read.whole("SYNC_MAX_BYTES", 2048 * 1024),
                            on_the_way_minutes=read.whole("ON_THE_WAY_MINUTES", 30))
        uploads = UploadSettings(photo_max_bytes=read.whole("PHOTO_MAX_BYTES", 15 * 1024 * 1024),
                                 photo_max_pixels=read.whole("PHOTO_MAX_PIXELS", 50_000_000),
                                 report_photo_max_bytes=read.whole("REPORT_PHOTO_MAX_BYTES", 6 * 1024 * 1024),
                                 report_photo_max_pixels=read.whole("REPORT_PHOTO_MAX_PIXELS", 25_000_000))
        return cls(site=site, locale=read.text("BABEL_DEFAULT_LOCALE") or "zh_CN", mail=mail, sms=sms, push=push,
                   channels=channels, sync=sync, uploads=uploads)


class _Reader:
    """Reads one config mapping, each value checked: the message names the variable."""

    def __init__(self, config: Mapping[str, Any]):
        self.config = config

    def text(self, name: str) -> str | None:
        """A text, or None when unset or empty."""
        value = self.config.get(name)
        if value is None or value == "":
            return None
        if isinstance(value, os.PathLike):  # a folder or file given as a Path (an app built in code)
            return os.fspath(value)
        if not isinstance(value, str):
            raise SettingsError(f"{name} must be a text, got {value!r}")
        return value

    def required(self, name: str) -> str:
        value = self.text(name)
        if not value:
            raise SettingsError(f"{name} must be set")
        return value

    def whole(self, name: str, default: int, *, zero_is_default: bool = False) -> int:
        """A whole number (an int, or its digits as text); unset: the default (and 0 too where 0 meant unset)."""
        value = self.config.get(name)
        if value is None or value == "" or (zero_is_default and value in (0, "0")):
            return default
        if isinstance(value, bool):
            raise SettingsError(f"{name} must be a whole number, got {value!r}")
        try:
            number = int(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{name} must be a whole number, got {value!r}") from None
        if number < 0:
            raise SettingsError(f"{name} must not be negative, got {value!r}")
        return number

    def flag(self, name: str) -> bool:
        value = self.config.get(name)
        if isinstance(value, str):
            return value.strip().lower() in {"1", "true", "yes", "on"}
        return bool(value)

    def choice(self, name: str, allowed: tuple[str, ...]) -> str | None:
        value = (self.text(name) or "").strip().lower()
        if value and value not in allowed:
            raise SettingsError(f"{name} must be one of {', '.join(allowed)} (or unset), got {value!r}")
        return value or None

    def zone(self, name: str) -> ZoneInfo:
        value = self.required(name)
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise SettingsError(f"{name} {value!r} is not a known IANA time zone") from None

    def listed(self, name: str, *, lower: bool = False) -> tuple[str, ...]:
        """A comma-separated list (a list or tuple given as such is taken too); unset: empty."""
        value = self.config.get(name)
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            items = value.split(",")
        elif isinstance(value, list | tuple):
            items = list(value)
        else:
            raise SettingsError(f"{name} must be a comma-separated list, got {value!r}")
        if not all(isinstance(item, str) for item in items):
            raise SettingsError(f"{name} must be a comma-separated list, got {value!r}")
        return tuple(item.strip().lower() if lower else item.strip() for item in items if item.strip())


_provider: Callable[[], Settings] | None = None


def provide(factory: Callable[[], Settings]) -> None:
    """Called once by the app factory: how a Context built without a Site gets this deployment's settings."""
    global _provider
    _provider = factory


def current() -> Settings:
    if _provider is None:
        raise SettingsError("no settings provided: create the app (app.create_app) before acting on documents")
    return _provider()
