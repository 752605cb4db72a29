"""The supervisor's request page shows what the technician recorded on site: the acceptance test, the
precautions, the photos (thumbnails opening full size), the customer's signature and rating."""
from __future__ import annotations

import re

from domain.core.db import db
from domain.core.models import Blob
from domain.requests import access

from .helpers import signed_client
from .orderfactory import make_signed_order


def test_the_request_page_shows_the_visits_evidence(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, photos=3)
        photo_ids = [str(p.id) for p in access.get_ticket(made["number"]).photos]
    boss = signed_client(app, made["ids"]["boss"])
    page = boss.get(f"/dispatch/requests/{made['number']}", headers={"Accept-Language": "zh-CN"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    for text in ("所有输入源正常显示", "固件升级前请联系技术支持", "黄磊", "响应很快，处理专业", "★★★★★", "现场照片 2"):
        assert text in html, text
    thumbs = re.findall(r'src="(/dispatch/requests/[^"]+/photos/[^"?]+)\?size=thumb"', html)
    fulls = re.findall(r'<a href="(/dispatch/requests/[^"]+/photos/[^"]+)"', html)
    assert [t.rsplit("/", 1)[1] for t in thumbs] == photo_ids and fulls == thumbs
    thumb, full = boss.get(thumbs[0] + "?size=thumb"), boss.get(fulls[0])
    assert thumb.mimetype == full.mimetype == "image/jpeg" and len(thumb.data) < len(full.data)
    assert "immutable" in full.headers["Cache-Control"]
    assert boss.get(fulls[0], headers={"If-None-Match": full.headers["ETag"]}).status_code == 304
    signature = boss.get(f"/dispatch/requests/{made['number']}/signature.png")
    assert signature.mimetype == "image/png" and signature.data.startswith(b"\x89PNG")


def test_evidence_is_only_for_those_who_may_see_the_request(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, photos=1)
        photo_id = access.get_ticket(made["number"]).photos[0].id
        db.session.commit()
    other = signed_client(app, made["ids"]["other"])
    assert other.get(f"/dispatch/requests/{made['number']}/photos/{photo_id}").status_code == 403
    assert other.get(f"/dispatch/requests/{made['number']}/signature.png").status_code == 403
    tech = signed_client(app, made["ids"]["tech"])
    assert tech.get(f"/dispatch/requests/{made['number']}/photos/{photo_id}?size=thumb").status_code == 200
    assert tech.get(f"/dispatch/requests/{made['number']}/photos/6f1d3d9e-3c35-4f8a-9d2e-0a8c3b8f6d10").status_code \
        == 404


def _image_boxes(box):
    """Every replaced (image) box laid out on a WeasyPrint page."""
    if getattr(box, "replacement", None) is not None:
        yield box
    for child in getattr(box, "children", []):
        yield from _image_boxes(child)


def test_the_pdf_keeps_each_photos_aspect_ratio(app, make_user):
    """A portrait photo is printed whole and upright-shaped, not cropped into the landscape frame."""
    import io

    from PIL import Image
    from weasyprint import HTML

    from domain.core import context
    from domain.core.blobs import store_blob
    from domain.core.models import User
    from domain.documents import orders
    from domain.fieldwork import signing
    from domain.fieldwork.models import Photo

    from .orderfactory import SHANGHAI, signature_data_url

    with app.app_context():
        made = make_signed_order(make_user, photos=1, sign=False)
        ticket = access.get_ticket(made["number"])
        for width, height in ((900, 1600), (1200, 1200)):
            image, thumb = Image.new("RGB", (width, height), (90, 40, 40)), io.BytesIO()
            image.thumbnail((400, 400))
            image.save(thumb, "JPEG")
            blob = store_blob(thumb.getvalue(), "image/jpeg")
            db.session.add(Photo(ticket=ticket, blob_sha256=blob.sha256, thumb_sha256=blob.sha256, width=width,
                                 height=height, caption=f"{width}x{height}", taken_at=ticket.visits[-1].arrived_at,
                                 uploaded_by_id=made["ids"]["tech"]))
        db.session.flush()
        ctx = context.Context(actor=db.session.get(User, made["ids"]["tech"]), tz=SHANGHAI)
        signing.sign_order(ticket, ctx, signer_name="黄磊", rating=4, comment="", device_id="phone-1",
                           signature_png=signature_data_url(), strokes=[[[1, 2, 0]]], signed_at_client=None)
        db.session.flush()
        html = orders.order_html(ticket.service_order)
        document = HTML(string=html, base_url="fs-static:", url_fetcher=orders.make_fetcher()).render()
        thumbs = {f"fs-blob:{p.thumb_sha256}" for p in ticket.photos}
        boxes = [b for page in document.pages for b in _image_boxes(page._page_box)
                 if b.element is not None and b.element.get("src") in thumbs]
        ratios = sorted(round(b.width / b.height, 2) for b in boxes)
        # the factory's 4:3 photo, the portrait 9:16 and the square one, each at its own shape
        assert ratios == [0.56, 1.0, 1.33], ratios
        db.session.rollback()


EMOJI = ["😭", "👍", "🥲", "🫠", "🎤", "📷", "✅", "⚠️", "1️⃣", "👨‍🔧", "🇨🇳", "😀"]


def test_any_character_the_phone_can_type_prints(app, make_user, tmp_path):
    """Emoji (old and recent, with variation selectors, keycaps, ZWJ sequences and flags), Chinese punctuation and
    quotes print with embedded fonts, and each extracts from the PDF as itself (no tofu, nothing swallowed)."""
    import subprocess

    from domain.documents import orders

    cause = "客户说：“音箱没声音了😭”，已修好👍！「测试」『引号』‘单引号’ \"直引号\" " + "".join(EMOJI[2:]) + "，完毕……"
    with app.app_context():
        made = make_signed_order(make_user, photos=0, notes=("已到达现场🎤，确认故障——无声。",))
        ticket = access.get_ticket(made["number"])
        order = ticket.service_order
        import json

        content = json.loads(order.content_json)
        content["cause"] = cause
        pdf_path = tmp_path / "emoji.pdf"
        pdf_path.write_bytes(orders.write_pdf(orders.order_html(order, content), content))
    fonts = subprocess.run(["pdffonts", str(pdf_path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert rows and all(row[-5] == "yes" for row in rows), fonts  # every font embedded
    assert any("Emoji" in row[0] for row in rows), fonts
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(pdf_path), "-"], capture_output=True, text=True,
                          check=True).stdout
    flat = "".join(text.split())
    assert "".join(cause.split()) in flat, text
    assert "已到达现场🎤，确认故障——无声。" in flat
    for emoji in EMOJI:
        assert flat.count(emoji) >= 1, emoji


def test_an_order_full_of_emoji_keeps_what_pdfa_3b_asks_as_far_as_checked_here(app, make_user, tmp_path):
    """No PDF/A validator (veraPDF) runs here; what can be checked is: the sRGB OutputIntent and the PDF/A-3B
    identification in the XMP metadata, every font embedded and none of Type 3 (the colour emoji are bitmaps drawn
    as images over an embedded TrueType font), each emoji glyph's width the same in /W as in the embedded font
    program, no .notdef glyph drawn, no image asking for interpolation (6.2.8), the JSON attachment with its
    relationship, MIME type and date, no encryption or JavaScript."""
    import io
    import json
    import subprocess

    from fontTools.ttLib import TTFont

    from domain.documents import orders

    from .pdfobjects import data, head, pdf_objects

    with app.app_context():
        made = make_signed_order(make_user, photos=1, notes=("已到达现场🎤，确认故障——无声。" + "".join(EMOJI) * 3,))
        order = access.get_ticket(made["number"]).service_order
        content = json.loads(order.content_json)
        content["work_done"] = "".join(EMOJI) * 4
        pdf = orders.write_pdf(orders.order_html(order, content), content)
    path = tmp_path / "emoji.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    rows = [line.split() for line in fonts.splitlines()[2:]]
    assert any("Emoji" in row[0] for row in rows) and all(row[-5] == "yes" for row in rows), fonts
    assert "Type 3" not in fonts, fonts
    objects = pdf_objects(pdf)
    catalog = next(head(o) for o in objects.values() if b"/Type /Catalog" in head(o))
    assert b"/S /GTS_PDFA1" in catalog and b"/DestOutputProfile" in catalog and b"/AF [" in catalog, catalog
    profile = objects[int(re.search(rb"/DestOutputProfile (\d+) 0 R", catalog).group(1))]
    assert b"/N 3" in head(profile) and data(profile)[36:40] == b"acsp"  # an RGB ICC profile
    xmp = next(data(o) for o in objects.values() if b"/Type /Metadata" in head(o)).decode()
    assert 'pdfaid:part="3"' in xmp and 'pdfaid:conformance="B"' in xmp, xmp
    images = [head(o) for o in objects.values() if b"/Subtype /Image" in head(o)]
    assert len(images) > 10  # the emoji bitmaps (and their masks), the photo, the signature
    assert not [i for i in images if b"/Interpolate true" in i], images[:2]
    filespec = next(head(o) for o in objects.values() if b"/Type /Filespec" in head(o))
    embedded = next(head(o) for o in objects.values() if b"/Type /EmbeddedFile" in head(o))
    assert b"/AFRelationship" in filespec and b"/Subtype /application#2fjson" in embedded and b"/ModDate" in embedded
    assert b"/Encrypt" not in pdf and not any(b"/JavaScript" in head(o) for o in objects.values())
    # The emoji font: the widths the PDF declares are those of the embedded program.
    cid_font = next(head(o) for o in objects.values() if b"/CIDFontType2" in head(o) and b"Emoji" in head(o))
    descriptor = next(head(o) for o in objects.values() if b"/FontDescriptor" in head(o) and b"Emoji" in head(o))
    program = TTFont(io.BytesIO(data(objects[int(re.search(rb"/FontFile2 (\d+) 0 R", descriptor).group(1))])))
    scale, glyphs = 1000 / program["head"].unitsPerEm, program.getGlyphOrder()
    widths = re.findall(rb"(\d+) \[([\d ]+)\]", cid_font.split(b"/W [", 1)[1].split(b"]]", 1)[0] + b"]")
    assert widths
    for start, listed in widths:
        for offset, width in enumerate(listed.split()):
            advance = program["hmtx"][glyphs[int(start) + offset]][0] * scale
            assert abs(advance - int(width)) <= 1, (start, offset, advance, width)
    # No text draws glyph 0 (.notdef: a box, and forbidden by 6.2.11.8): every font here is two-byte Identity-H.
    for page in (o for o in objects.values() if b"/Type /Page/" in head(o) or b"/Type /Page\n" in head(o)):
        contents = objects[int(re.search(rb"/Contents (\d+) 0 R", head(page)).group(1))]
        codes = [h[i:i + 4] for h in re.findall(rb"<([0-9a-f]+)>", data(contents)) for i in range(0, len(h), 4)]
        assert codes and b"0000" not in codes


def test_numbers_stay_in_the_text_font(app, make_user, tmp_path):
    """The emoji font is limited to emoji code points: an order without emoji embeds none (digits, '#' and '*'
    are keycap bases in an emoji font and would print spaced out)."""
    import subprocess

    from domain.documents import orders

    with app.app_context():
        made = make_signed_order(make_user, photos=0)
        order = access.get_ticket(made["number"]).service_order
        assert orders.render_order(order)
        path = tmp_path / "plain.pdf"
        path.write_bytes(db.session.get(Blob, order.pdf_sha256).data)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "CJK" in fonts and "Emoji" not in fonts, fonts
