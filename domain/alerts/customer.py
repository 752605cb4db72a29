"""The customer's copy: after signing, the customer gets the link to their signed order by e-mail."""
from __future__ import annotations

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


def queue_customer_copy(ticket: Ticket, order: ServiceOrder, site: Site) -> bool:
    """Queue the mail with the link when the request carries the customer's e-mail. True when queued."""
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
