"""The supervisor's request page shows what the technician recorded on site: the acceptance test, the
precautions, the photos (thumbnails opening full size), the customer's signature and rating."""
from __future__ import annotations

import re

from domain.core.db import db
from domain.requests import dispatch

from .orderfactory import make_signed_order
from .test_orders import login


def test_the_request_page_shows_the_visits_evidence(app, make_user):
    with app.app_context():
        made = make_signed_order(make_user, photos=3)
        photo_ids = [str(p.id) for p in dispatch.get_ticket(made["number"]).photos]
    boss = login(app, made["ids"]["boss"])
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
        photo_id = dispatch.get_ticket(made["number"]).photos[0].id
        db.session.commit()
    other = login(app, made["ids"]["other"])
    assert other.get(f"/dispatch/requests/{made['number']}/photos/{photo_id}").status_code == 403
    assert other.get(f"/dispatch/requests/{made['number']}/signature.png").status_code == 403
    tech = login(app, made["ids"]["tech"])
    assert tech.get(f"/dispatch/requests/{made['number']}/photos/{photo_id}?size=thumb").status_code == 200
    assert tech.get(f"/dispatch/requests/{made['number']}/photos/6f1d3d9e-3c35-4f8a-9d2e-0a8c3b8f6d10").status_code \
        == 404
