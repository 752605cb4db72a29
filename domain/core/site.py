"""The deployment's own facts that documents and customer links need: who the company is, where customers reach
the site, the key links are signed with, the time zone, the print templates.

The domain never reads the Flask app for them: a Site is part of the deployment's typed settings
(`Settings.site`, domain/core/settings.py), built once by the app factory and passed in (the worker and the CLI
take the same object). Actions reached through a Context (signing, a remote fix) take the Context's Site; the app
installs one provider (`settings.provide`) so that a Context built without one (the sync applier, demo data)
still gets this deployment's settings rather than made-up defaults.
"""
from __future__ import annotations

from dataclasses import dataclass
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

    def link(self, path: str) -> str:
        """A link for someone outside (a customer, a printed QR code): on PUBLIC_URL, never on the Host header a
        request came with (a forged Host would hand the customer a link to another site)."""
        return self.public_url + path


def current() -> Site:
    """This deployment's Site, from the settings the app provided (domain/core/settings.py `provide`)."""
    from .settings import current as current_settings  # (settings.py imports this module)

    return current_settings().site
