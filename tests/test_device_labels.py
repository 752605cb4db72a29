"""The QR labels: A4 sticker sheets with each device's asset number, model and service phone, and a QR code that
decodes (zxing-cpp on the rendered page) to the device's report URL; re-issuing a label changes that URL."""
from __future__ import annotations

import subprocess

import pytest

from domain.core.db import db
from domain.core.enums import Role
from domain.requests.catalog import ensure_catalog

from .helpers import signed_client


@pytest.fixture
def desk(make_app, make_user):
    app = make_app(SERVICE_PHONE="400-820-1234", PUBLIC_URL="https://fs.example.cn")
    with app.app_context():
        ensure_catalog()
        db.session.commit()
    make_user(Role.DISPATCHER, "desk")
    make_user(Role.TECHNICIAN, "li")
    return app, signed_client(app, "desk")


def _decode_qr_codes(pdf: bytes, tmp_path) -> list[str]:
    import zxingcpp
    from PIL import Image

    (tmp_path / "labels.pdf").write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "200", "-png", "-f", "1", "-l", "1", str(tmp_path / "labels.pdf"),
                    str(tmp_path / "page")], check=True, timeout=60)
    page = Image.open(next(tmp_path.glob("page*.png")))
    return sorted(result.text for result in zxingcpp.read_barcodes(page))


def test_a_label_sheet_carries_each_device_and_its_qr_code(desk, tmp_path):
    app, client = desk
    urls = []
    for number, model in [("ZC-ENC-0001", "Magewell Ultra Encode HDMI"), ("ZC-CAM-0107", "Sony PXW-Z190"),
                          ("ZC-MIX-0003", "Yamaha MG10XU")]:
        created = client.post("/api/v1/devices", json={"asset_number": number, "model": model})
        assert created.status_code == 201
        urls.append(created.get_json()["report_url"])
    assert all(url.startswith("https://fs.example.cn/d/") for url in urls)
    response = client.get("/devices/labels.pdf?q=ZC")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")
    (tmp_path / "l.pdf").write_bytes(response.data)
    import os
    if os.environ.get("KEEP_LABELS"):
        (tmp_path / "l.pdf").rename(os.environ["KEEP_LABELS"])
        (tmp_path / "l.pdf").write_bytes(response.data)
    text = subprocess.run(["pdftotext", "-layout", str(tmp_path / "l.pdf"), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout
    for number in ("ZC-ENC-0001", "ZC-CAM-0107", "ZC-MIX-0003"):
        assert number in text
    assert "400-820-1234" in text and "Sony PXW-Z190" in text and "扫码报修" in text
    fonts = subprocess.run(["pdffonts", str(tmp_path / "l.pdf")], capture_output=True, text=True, check=True,
                           timeout=60).stdout
    assert "CJK" in fonts or "WenQuanYi" in fonts  # Chinese in real glyphs
    assert _decode_qr_codes(response.data, tmp_path) == sorted(urls)

    one = client.get("/devices/labels.pdf?asset=ZC-CAM-0107")
    assert one.status_code == 200
    page = client.get("/devices/ZC-CAM-0107").get_data(as_text=True)
    assert urls[1] in page
    assert client.post("/devices/ZC-CAM-0107/label").status_code == 302
    new_url = client.get("/api/v1/devices/ZC-CAM-0107").get_json()["report_url"]
    assert new_url != urls[1] and new_url.startswith("https://fs.example.cn/d/")
    (tmp_path / "again").mkdir()
    assert _decode_qr_codes(client.get("/devices/labels.pdf?asset=ZC-CAM-0107").data, tmp_path / "again") == [new_url]


def test_labels_are_for_the_register_editors(desk):
    app, _client = desk
    assert signed_client(app, "li").get("/devices/labels.pdf").status_code == 403
    assert signed_client(app, "desk").get("/devices/labels.pdf?asset=NOPE").status_code == 404
    assert signed_client(app, "desk").get("/devices/labels.pdf?asset=%00").status_code in (400, 404)
