"""The deployment's own facts that documents and customer links need: who the company is, where customers reach
the site, the key links are signed with, the time zone, the print templates.

The domain never reads the Flask app for them: the app layer builds a Site from its settings and passes it in
(the worker and the CLI build theirs the same way). Actions reached through a Context (signing, a remote fix)
take the Context's Site; the app installs one provider (`provide`) so that a Context built without one (the
sync applier, demo data) still gets this deployment's settings rather than made-up defaults.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from jinja2 import Environment


@dataclass(frozen=True)
class Site:
    company: str
    public_url: str
    secret_key: str
    tz: ZoneInfo
    share_link_days: int = 30
    logo_path: str | None = None
    templates: Environment | None = None
    # The number customers call (printed on device labels, named on the customer's pages); may be empty.
    service_phone: str = ""
    # The company seal (domain/documents/seal.py): a PKCS#12 file and its password, or None for a certificate
    # generated into `instance_path` at first use; the RFC 3161 time-stamping authority, or None.
    seal_pkcs12: str | None = None
    seal_password: str | None = None
    tsa_url: str | None = None
    signing_sms_code: bool = False  # SIGNING_SMS_CODE: the customer confirms their signature with an SMS code
    instance_path: str | None = None

    @classmethod
    def from_config(cls, config: Mapping[str, Any], templates: Environment | None = None) -> Site:
        return cls(company=config["COMPANY_NAME"], public_url=(config.get("PUBLIC_URL") or "").rstrip("/"),
                   secret_key=config["SECRET_KEY"], tz=ZoneInfo(config["TIMEZONE"]),
                   share_link_days=int(config["SHARE_LINK_DAYS"]), logo_path=config.get("COMPANY_LOGO") or None,
                   templates=templates, service_phone=config.get("SERVICE_PHONE") or "",
                   seal_pkcs12=config.get("SEAL_PKCS12") or None,
                   seal_password=config.get("SEAL_PASSWORD") or None, tsa_url=config.get("TSA_URL") or None,
                   signing_sms_code=bool(config.get("SIGNING_SMS_CODE")),
                   instance_path=config.get("INSTANCE_PATH_FOR_KEYS"))

    def link(self, path: str) -> str:
        """A link for someone outside (a customer, a printed QR code): on PUBLIC_URL, never on the Host header a
        request came with (a forged Host would hand the customer a link to another site)."""
        return self.public_url + path


_provider: Callable[[], Site] | None = None


def provide(factory: Callable[[], Site]) -> None:
    """Called once by the app factory: how the domain gets this deployment's Site when none is passed."""
    global _provider
    _provider = factory


def current() -> Site:
    if _provider is None:
        raise RuntimeError("no Site provided: create the app (app.create_app) before acting on documents")
    return _provider()
