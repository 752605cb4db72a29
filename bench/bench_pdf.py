"""The signed service order PDF: render time, the app's overhead over WeasyPrint alone, download speed, size.

    .venv/bin/python bench/bench_pdf.py

Targets (issue 6), for a typical order (2 pages, 4 photos, signature, Chinese text):
- rendering through the app at most 1.2x WeasyPrint rendering the same HTML alone (baseline, same run);
- downloading the stored PDF at least 50x faster than rendering it;
- the file at most 400 KB.
"""
from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402

from app import create_app  # noqa: E402
from domain.core import accounts  # noqa: E402
from domain.core.db import db  # noqa: E402
from domain.core.models import Blob, User  # noqa: E402
from domain.documents import orders  # noqa: E402
from domain.requests import access  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", 9))
PASSWORD = "bench-pass-1"


def make_user_factory(app):
    def make_user(role, username=None, *, locale=None, **_):
        with app.app_context():
            user = accounts.create_user(username, PASSWORD, role, display_name=f"张{username[-3:]}", via="cli")
            user.locale = locale
            db.session.commit()
            return user.id, user.username
    return make_user


def median_ms(fn, repeat=REPEAT) -> float:
    fn()  # warm up (fonts, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from tests.orderfactory import make_signed_order

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "RATELIMIT_ENABLED": False,
                          "WTF_CSRF_ENABLED": False})
        with app.app_context():
            db.create_all()
            made = make_signed_order(make_user_factory(app))
            order = access.get_ticket(made["number"]).service_order
            content = json.loads(order.content_json)
            html = orders.order_html(order, content)
            # The same resources held in memory, for WeasyPrint alone.
            blobs = {b.sha256: (b.data, b.media_type) for b in db.session.execute(sa.select(Blob)).scalars()}

            def weasyprint_alone():
                from weasyprint import HTML, Attachment

                fetcher = orders.make_fetcher(blob_loader=blobs.get)
                attachment = Attachment(string=orders.canonical_json(content), name="order.json", url_fetcher=fetcher)
                return HTML(string=html, base_url="fs-static:", url_fetcher=fetcher).write_pdf(
                    pdf_variant="pdf/a-3b", attachments=[attachment], optimize_images=True, jpeg_quality=80)

            def through_the_app():
                # What signing triggers: template from the frozen content, blobs from the database, PDF, store.
                assert orders.render_order(order)
                db.session.flush()

            app_ms = median_ms(through_the_app)
            alone_ms = median_ms(weasyprint_alone)
            db.session.commit()
            pdf = db.session.get(Blob, order.pdf_sha256).data
            boss_name = db.session.get(User, made["ids"]["boss"]).username
        client = app.test_client()
        assert client.post("/auth/login", data={"username": boss_name, "password": PASSWORD}).status_code == 302

        def download():
            response = client.get(f"/orders/{made['number']}/pdf")
            assert response.status_code == 200 and len(response.data) == len(pdf)

        download_ms = median_ms(download, repeat=50)

        def internal_copy():  # the staff's copy: rendered on each request, never stored
            response = client.get(f"/orders/{made['number']}/internal.pdf")
            assert response.status_code == 200 and response.data.startswith(b"%PDF-")

        internal_ms = median_ms(internal_copy)
        path = Path(tmp) / "order.pdf"
        path.write_bytes(pdf)
        pages = re.search(r"Pages:\s+(\d+)", subprocess.run(["pdfinfo", str(path)], capture_output=True,
                                                               text=True).stdout).group(1)
        images = len(subprocess.run(["pdfimages", "-list", str(path)], capture_output=True,
                                    text=True).stdout.splitlines()) - 2
        print(f"typical order: {pages} pages, {images} images (4 photos + signature), Chinese text; {REPEAT} runs")
        print(f"render through the app        {app_ms:8.1f} ms median")
        print(f"WeasyPrint alone (baseline)   {alone_ms:8.1f} ms median")
        ratio = app_ms / alone_ms
        print(f"  ratio app / WeasyPrint alone: {ratio:.2f}x ({'meets' if ratio <= 1.2 else 'MISSES'} <= 1.2x)")
        print(f"download the stored PDF       {download_ms:8.2f} ms median (50 runs)")
        speedup = app_ms / download_ms
        print(f"  download is {speedup:.0f}x faster than rendering ({'meets' if speedup >= 50 else 'MISSES'} >= 50x)")
        print(f"staff's copy on request       {internal_ms:8.1f} ms median ({internal_ms / app_ms:.2f}x the customer's "
              "copy's render)")
        size_kb = len(pdf) / 1024
        print(f"file size                     {size_kb:8.1f} KB ({'meets' if size_kb <= 400 else 'MISSES'} <= 400 KB)")


if __name__ == "__main__":
    main()
