"""The customer's messages: "received" when the request is entered, "your technician is …" at assignment (SMS
and e-mail), "on my way, arriving about 14:30" when the technician sets out (SMS and e-mail), and after signing
their signed order's copy (SMS and e-mail)."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from flask_babel import force_locale
from flask_babel import gettext as _

from ..core.site import Site
from ..documents.models import ServiceOrder
from ..documents.orders import share_token
from ..requests.models import Ticket
from . import mail


def customer_copy_link(order: ServiceOrder, site: Site) -> str:
    """The time-limited download link (/o/<token>), from PUBLIC_URL: the address customers reach."""
    return site.link("/o/" + share_token(order, site))


def queue_customer_copy(ticket: Ticket, order: ServiceOrder, site: Site) -> dict[str, bool]:
    """After signing, the customer's copy: by SMS to the contact phone when it is a mobile number (their tracking
    page, PUBLIC_URL/c/<code>, which offers the signed order's download once it is rendered), and by e-mail with
    the download link when the request carries an address. In the caller's transaction; sent after its commit."""
    from . import sms

    return {"sms": sms.queue_customer_sms(ticket, sms.SmsKind.CUSTOMER_SIGNED_COPY),
            "email": _queue_copy_mail(ticket, order, site)}


def _queue_copy_mail(ticket: Ticket, order: ServiceOrder, site: Site) -> bool:
    if not ticket.customer_email:
        return False
    days = site.share_link_days
    with force_locale(order.locale or "zh_CN"):
        subject = _("Your signed service order %(number)s", number=ticket.number)
        body = _("Hello %(name)s,\n\nthank you for confirming our service. Your signed service order %(number)s "
                 "can be downloaded as PDF for %(days)d days here:\n\n%(link)s\n\n%(company)s",
                 name=ticket.signature.signer_name if ticket.signature else ticket.customer.name,
                 number=ticket.number, days=days, link=customer_copy_link(order, site),
                 company=site.company)
    return mail.queue_mail("customer_copy", [ticket.customer_email], subject, body) is not None


def queue_entered(ticket: Ticket) -> bool:
    """When the request is entered: "your request FS-… is received", by SMS to the contact phone (a mobile)."""
    from . import sms

    return sms.queue_customer_sms(ticket, sms.SmsKind.CUSTOMER_RECEIVED)


def queue_assigned(ticket: Ticket, site: Site) -> dict[str, bool]:
    """At assignment: "your request FS-… is received, the technician is 李强", by SMS to the request's contact
    phone when it is a mobile number, and by e-mail when the customer gave an address. A reassignment names the
    new technician. In the caller's transaction; sent after its commit."""
    from . import sms

    sent = {"sms": sms.queue_customer_sms(ticket, sms.SmsKind.CUSTOMER_TECHNICIAN), "email": False}
    if ticket.customer_email and ticket.assignee is not None:
        with force_locale("zh_CN"):
            subject = _("Your request %(number)s is received", number=ticket.number)
            body = _("Hello %(name)s,\n\nyour request %(number)s is received. Your technician is %(technician)s, "
                     "who will contact you shortly.\n\n%(company)s", name=ticket.customer.name,
                     number=ticket.number, technician=ticket.assignee.display_name, company=site.company)
        sent["email"] = mail.queue_mail("customer_received", [ticket.customer_email], subject, body) is not None
    return sent


def arrival_words(arriving_at: datetime, set_out_at: datetime, tz: ZoneInfo) -> str:
    """"14:30", or "12-07 14:30" when the arrival falls on another day than the tap (short: a template variable)."""
    local = arriving_at.astimezone(tz)
    same_day = local.date() == set_out_at.astimezone(tz).date()
    return local.strftime("%H:%M") if same_day else local.strftime("%m-%d %H:%M")


def queue_on_the_way(ticket: Ticket, *, arriving_at: datetime, set_out_at: datetime, event: str, tz: ZoneInfo,
                     site: Site) -> dict[str, bool]:
    """"On my way, arriving about 14:30": by SMS to the request's contact phone (a mobile, not opted out) and by
    e-mail when the customer gave an address. `event` is the phone's op id: the message's idempotency key, so an op
    replayed after a lost answer tells the customer once. In the caller's transaction; sent after its commit."""
    from . import sms

    name = ticket.assignee.display_name if ticket.assignee else ""
    when = arrival_words(arriving_at, set_out_at, tz)
    sent = {"sms": sms.queue_customer_sms(ticket, sms.SmsKind.CUSTOMER_ON_THE_WAY, event=event,
                                          variables={"name": name, "time": when}),
            "email": False}
    if ticket.customer_email:
        with force_locale("zh_CN"):
            subject = _("Request %(number)s: your technician is on the way", number=ticket.number)
            body = _("Hello %(name)s,\n\n%(technician)s is on the way to you for request %(number)s, arriving "
                     "about %(time)s.\n\n%(company)s", name=ticket.customer.name, technician=name,
                     number=ticket.number, time=when, company=site.company)
        sent["email"] = mail.queue_mail("customer_on_the_way", [ticket.customer_email], subject, body) is not None
    return sent
