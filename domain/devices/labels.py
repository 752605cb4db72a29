"""QR labels: A4 sheets of stickers (3 x 7, 63.5 x 38.1 mm, the common A4 label sheet), each with the device's
asset number, model, the service phone and a QR code to its report page."""
from __future__ import annotations

from collections.abc import Sequence

from ..core.site import Site
from .models import Device
from .register import report_url

COLUMNS, ROWS = 3, 7
PER_SHEET = COLUMNS * ROWS
MAX_LABELS = 50 * PER_SHEET


def label_qr_svg(url: str) -> str:
    import segno

    # Error level M: a sticker gets scratched; the URL (about 40 characters) still fits a small code.
    return segno.make(url, error="m").svg_inline(scale=4, border=2, omitsize=True)


def labels_html(devices: Sequence[Device], site: Site, *, lang: str = "zh-CN") -> str:
    labels = [{"asset_number": d.asset_number, "model": d.device_model.label, "url": report_url(d, site),
               "qr": label_qr_svg(report_url(d, site))} for d in devices]
    sheets = [labels[i:i + PER_SHEET] for i in range(0, len(labels), PER_SHEET)] or [[]]
    template = site.templates.get_template("print/device_labels.html")
    return template.render(sheets=sheets, columns=COLUMNS, site=site, html_lang=lang)


def labels_pdf(devices: Sequence[Device], site: Site, *, lang: str = "zh-CN") -> bytes:
    from weasyprint import HTML

    from ..documents.orders import make_fetcher

    html = labels_html(devices, site, lang=lang)
    return HTML(string=html, base_url="fs-static:", url_fetcher=make_fetcher()).write_pdf()
