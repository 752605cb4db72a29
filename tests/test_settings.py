"""The deployment's typed settings (domain/core/settings.py): built once from the app's config, every value parsed
and checked, a bad one stopping the start with its variable named; the worker and the views hand the same object
to the domain."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.core.settings import Settings, SettingsError
from settings import load_settings

from .helpers import settings_of


def test_the_environment_becomes_typed_settings(tmp_path, monkeypatch):
    for name, value in {"TIMEZONE": "Asia/Hong_Kong", "COMPANY_NAME": "星播租赁", "PUBLIC_URL": "https://fs.example.cn/",
                        "SMTP_HOST": "smtp.example.cn", "SMTP_PORT": "465", "SMTP_TLS": "SSL",
                        "WEEKLY_REPORT_TO": "cs@example.cn, lead@example.cn,", "SMS_PROVIDER": "Tencent",
                        "SMS_DAILY_CAP": "7", "CHANNEL_CLAIM_SECONDS": "30",
                        "CHANNEL_HOSTS_ALLOWED": "Robots.Example.cn, 127.0.0.1", "SIGNING_SMS_CODE": "yes",
                        "PHOTO_MAX_MB": "3", "SYNC_MAX_OPS": "50"}.items():
        monkeypatch.setenv(name, value)
    settings = Settings.from_config(load_settings(str(tmp_path)))
    assert settings.tz == settings.site.tz == ZoneInfo("Asia/Hong_Kong")
    assert (settings.site.company, settings.site.public_url) == ("星播租赁", "https://fs.example.cn")
    assert settings.site.signing_sms_code is True and settings.site.instance_path == str(tmp_path)
    assert (settings.mail.host, settings.mail.port, settings.mail.tls) == ("smtp.example.cn", 465, "ssl")
    assert settings.mail.weekly_report_to == ("cs@example.cn", "lead@example.cn")
    assert (settings.sms.provider, settings.sms.daily_cap) == ("tencent", 7)
    assert settings.channels.claim_for == timedelta(seconds=30)
    assert settings.channels.hosts_allowed == ("robots.example.cn", "127.0.0.1")
    assert settings.push.endpoints_allowed == () and settings.push.key_folder == str(tmp_path)
    assert settings.uploads.photo_max_bytes == 3 * 1024 * 1024 and settings.sync.max_ops == 50
    assert settings.locale == "zh_CN"


def test_the_defaults_are_the_ones_the_domain_used_before(tmp_path, monkeypatch):
    for name in ("SMTP_HOST", "SMS_PROVIDER", "MAIL_FROM", "VAPID_SUBJECT", "PUBLIC_URL"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings.from_config(load_settings(str(tmp_path)))
    assert settings.mail.host is None and settings.mail.tls == "starttls" and settings.mail.port == 587
    assert settings.mail.sender == "fieldservice@localhost" and settings.mail.weekly_report_to == ()
    assert settings.sms.provider is None and settings.sms.daily_cap == 50
    assert settings.push.vapid_subject == "mailto:fieldservice@localhost"
    assert settings.channels.claim_seconds == 120 and settings.site.public_url == "http://127.0.0.1:5000"


@pytest.mark.parametrize("name,value", [
    ("SMTP_PORT", "lots"), ("SMTP_PORT", True), ("SMS_DAILY_CAP", "2.5"), ("CHANNEL_CLAIM_SECONDS", -5),
    ("SMTP_TLS", "maybe"), ("SMS_PROVIDER", "twilio"), ("TIMEZONE", "Mars/Olympus"), ("SECRET_KEY", ""),
    ("WEEKLY_REPORT_TO", 42), ("COMPANY_NAME", ["a"]),
])
def test_a_bad_value_fails_naming_its_variable(name, value, tmp_path):
    config = {**load_settings(str(tmp_path)), name: value}
    with pytest.raises(SettingsError, match=name):
        Settings.from_config(config)


def test_a_bad_setting_stops_the_app_at_start(make_app):
    with pytest.raises(SettingsError, match="SMTP_PORT"):
        make_app(SMTP_PORT="five-eight-seven")


def test_the_settings_are_built_once_frozen_and_handed_to_the_tasks(make_app):
    import worker

    app = make_app(COMPANY_NAME="星播租赁", CHANNEL_CLAIM_SECONDS=3, PUSH_ENDPOINTS_ALLOWED="127.0.0.1")
    settings = settings_of(app)
    assert settings.site.company == "星播租赁" and settings.channels.claim_seconds == 3
    assert settings.push.endpoints_allowed == ("127.0.0.1",)
    assert settings.site.templates is app.jinja_env
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.site = None  # type: ignore[misc]
    with app.app_context():
        from blueprints.core.helpers import current_settings
        from domain.core.site import current as current_site

        assert current_settings() is settings and current_site() is settings.site
        env = worker.task_env(app)
        assert env.settings is settings and env.tz == settings.tz and env.templates is app.jinja_env
