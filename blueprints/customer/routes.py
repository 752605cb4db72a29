"""Public pages: each answers the same for a forged, expired, revoked or re-issued code ("no longer valid, call
customer service"), so that no page says whether a device, a request or a mobile number exists."""
from __future__ import annotations

from flask import current_app, render_template, request, session
from flask_wtf.csrf import validate_csrf

from domain.core.enums import Channel
from domain.core.errors import ValidationError
from domain.core.types import utcnow
from domain.customer import report, tracking
from domain.devices.register import device_by_label
from domain.sla.policy import current_policy
from extensions import csrf, limiter

from ..access import public
from ..core.helpers import company_tz, current_settings, current_site
from . import bp

REPORTED_KEY = "reported"  # this browser's recent report numbers: the website's duplicate guard


def _address_limit() -> str:
    return current_app.config["REPORT_RATE_LIMIT"]


def _device_limit() -> str:
    return current_app.config["REPORT_DEVICE_RATE_LIMIT"]


def _device_key() -> str:
    # Every address reporting on one label counts together: a label photographed and posted online cannot flood
    # customer service.
    return "report-device:" + (request.view_args or {}).get("code", "")[:24]


def _promises() -> dict[str, int]:
    """What the customer is told: the call-back time for each urgency, intake plus first contact, from the policy."""
    policy = current_policy()
    return {"urgent": policy.intake_minutes + policy.first_contact_urgent_minutes,
            "normal": policy.intake_minutes + policy.first_contact_normal_minutes}


def _invalid_label():
    return render_template("customer/label_invalid.html", site=current_site()), 404


def _form_values() -> dict:
    return {name: request.form.get(name, "") for name in (*report.LIMITS, "urgent")}


def _handle(device, channel: Channel, template: str, **context):
    site = current_site()
    values, errors = {}, {}
    if request.method == "POST":
        values = _form_values()
        try:
            validate_csrf(request.form.get("csrf_token")) if current_app.config.get("WTF_CSRF_ENABLED", True) \
                else None
        except Exception:  # noqa: BLE001 - any CSRF failure: the same message, and the form kept
            errors["form"] = _expired()
        if request.form.get("website"):  # the honeypot: people never see it, robots fill every field
            errors["form"] = _refused()
        if not errors:
            photos = _read_photos()
            try:
                checked = report.check_report(request.form, photos,
                                              photo_max_bytes=current_settings().uploads.report_photo_max_bytes,
                                              photo_max_pixels=current_settings().uploads.report_photo_max_pixels,
                                              device_text_needed=device is None)
            except ValidationError as error:
                errors = {k: str(v) for k, v in error.fields.items()}
            else:
                ticket, joined = report.file_report(
                    checked, device=device, channel=channel, now=utcnow(), tz=company_tz(),
                    policy=current_policy(), remote_addr=request.remote_addr,
                    same_browser=list(session.get(REPORTED_KEY, [])))
                session[REPORTED_KEY] = [*[n for n in session.get(REPORTED_KEY, []) if n != ticket.number],
                                         ticket.number][-10:]
                return render_template("customer/sent.html", ticket=ticket, joined=joined, site=site,
                                       tracking_url=tracking.tracking_url(ticket, site),
                                       tracking_path=tracking.tracking_path(ticket, site))
    return render_template(template, device=device, values=values, errors=errors, site=site,
                           promises=_promises(), max_photos=report.MAX_PHOTOS,
                           photo_mb=current_settings().uploads.report_photo_max_bytes // 2**20, **context), \
        400 if errors else 200


def _read_photos() -> list[bytes]:
    """The chosen photos, each read up to one byte over the limit (the pipeline refuses it); the uploads' spooled
    files are closed here, whatever follows."""
    limit = current_settings().uploads.report_photo_max_bytes + 1
    photos = []
    for upload in request.files.getlist("photos"):
        try:
            if upload and upload.filename:
                photos.append(upload.read(limit))
        finally:
            upload.close()
    return photos


def _expired() -> str:
    from flask_babel import gettext as _

    return _("The form expired. Please send it again.")


def _refused() -> str:
    from flask_babel import gettext as _

    return _("The report could not be sent. Please call customer service.")


@bp.route("/d/<code>", methods=["GET", "POST"])
@csrf.exempt  # checked in _handle: an expired form is shown again with what was typed, not lost
@public
@limiter.limit(_address_limit, methods=["POST"])
@limiter.limit(_device_limit, methods=["POST"], key_func=_device_key)
def report_device(code: str):
    device = device_by_label(code)
    if device is None:
        return _invalid_label()
    return _handle(device, Channel.QR, "customer/report.html")


@bp.route("/report", methods=["GET", "POST"])
@csrf.exempt
@public
@limiter.limit(_address_limit, methods=["POST"])
def report_web():
    return _handle(None, Channel.WEB, "customer/report.html")


@bp.get("/c/<token>")
@public
def track(token: str):
    site = current_site()
    ticket = tracking.ticket_for_token(token, site, utcnow())
    if ticket is None:
        return render_template("customer/link_invalid.html", site=site), 404
    order_link = None
    order = ticket.service_order
    if order is not None and order.pdf_sha256 and ticket.signature is not None:
        from domain.documents.orders import share_token

        order_link = "/o/" + share_token(order, site)
    return _track_page(ticket, token, order_link=order_link)


def _track_page(ticket, token: str, *, order_link=None, errors=None, values=None, status: int = 200,
                message: str | None = None, code_sent: bool = False):
    from domain.fieldwork import smscode

    site = current_site()
    return render_template("customer/track.html", ticket=ticket, site=site, token=token,
                           state=tracking.state_words(ticket, company_tz()),
                           steps=tracking.timeline(ticket, company_tz()),
                           technician=tracking.technician_shown(ticket),
                           order_link=order_link, may_rate=tracking.may_rate(ticket),
                           rated=tracking.follow_up_rating(ticket), errors=errors or {}, values=values or {},
                           message=message, awaiting_code=smscode.awaiting_confirmation(ticket),
                           code_sent=code_sent), status


@bp.post("/c/<token>/rating")
@csrf.exempt  # checked below: an expired form keeps the stars and the comment
@public
@limiter.limit(_address_limit)
def rate(token: str):
    from sqlalchemy.exc import IntegrityError

    from domain.core import uow
    from domain.core.errors import DomainError

    ticket = tracking.ticket_for_token(token, current_site(), utcnow())
    if ticket is None:
        return render_template("customer/link_invalid.html", site=current_site()), 404
    values = {"rating": request.form.get("rating", ""), "comment": request.form.get("comment", "")}
    try:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            validate_csrf(request.form.get("csrf_token"))
    except Exception:  # noqa: BLE001 - any CSRF failure: the same message, and the form kept
        return _track_page(ticket, token, errors={"form": _expired()}, values=values, status=400)
    try:
        uow.attempt(lambda: tracking.rate(ticket, values["rating"], values["comment"], now=utcnow(),
                                          remote_addr=request.remote_addr))
    except ValidationError as error:
        return _track_page(ticket, token, errors={k: str(v) for k, v in error.fields.items()}, values=values,
                           status=400)
    except DomainError as error:
        return _track_page(ticket, token, message=str(error.message), status=error.status)
    except IntegrityError:  # the same rating sent twice at once: the first one counts
        return _track_page(ticket, token, message=_already_rated(), status=409)
    return _track_page(ticket, token, message=_thanks())


@bp.post("/c/<token>/confirm")
@csrf.exempt  # checked below, with the page's own message
@public
@limiter.limit(_address_limit)
def confirm_signature(token: str):
    """The customer confirms a signature accepted offline with a code sent to the request's mobile number. A wrong
    code is answered on the page (200: the try it cost is kept)."""
    from flask_babel import gettext as _

    from domain.core.errors import DomainError
    from domain.fieldwork import smscode

    site = current_site()
    ticket = tracking.ticket_for_token(token, site, utcnow())
    if ticket is None:
        return render_template("customer/link_invalid.html", site=site), 404
    try:
        if current_app.config.get("WTF_CSRF_ENABLED", True):
            validate_csrf(request.form.get("csrf_token"))
    except Exception:  # noqa: BLE001 - any CSRF failure: the same message
        return _track_page(ticket, token, message=_expired(), status=400)
    try:
        if request.form.get("action") == "send":
            smscode.send_for_tracking(ticket, site=site, now=utcnow())
            return _track_page(ticket, token, message=_("A code was sent by SMS to your mobile number."),
                               code_sent=True)
        smscode.confirm_from_tracking(ticket, request.form.get("code", "")[:20], site=site, now=utcnow())
    except DomainError as error:
        return _track_page(ticket, token, message=str(error.message), code_sent=True)
    return _track_page(ticket, token, message=_("Thank you: your signature is confirmed."))


def _already_rated() -> str:
    from flask_babel import gettext as _

    return _("You already rated this service. Thank you!")


def _thanks() -> str:
    from flask_babel import gettext as _

    return _("Thank you for your rating!")
