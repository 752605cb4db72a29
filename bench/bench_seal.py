"""The company seal: what sealing adds to a render, and how long checking an uploaded order takes.

    .venv/bin/python bench/bench_seal.py

Targets (issue 23):
- sealing (with a local RFC 3161 TSA) adds at most 30% to a render: render + seal against render alone (baseline,
  same run, same order: 2 pages, 4 photos, signature, Chinese text);
- verifying an uploaded 2 MB sealed order (POST /api/v1/verify, multipart) answers in under 1 s.

The TSA is certomancer's test CA (tests/tsa.py) in a process of its own on 127.0.0.1, as a remote TSA would be:
its signing does not share this process's interpreter.
"""
from __future__ import annotations

import asyncio
import io
import multiprocessing
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

REPEAT = int(os.environ.get("BENCH_REPEAT", 9))
PASSWORD = "bench-pass-1"


def serve_tsa(folder: str, urls) -> None:
    from tests.tsa import local_tsa

    with local_tsa(Path(folder)) as tsa:
        urls.put(tsa["url"])
        time.sleep(3600)


def median_ms(fn, repeat=REPEAT) -> tuple[float, float]:
    fn()  # warm up (fonts, caches, the TSA's certificates)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), max(times)


def paired(render, seal, repeat=REPEAT) -> tuple[list[float], list[float]]:
    """Each round renders the order, then seals that very render: a busy moment of the shared machine falls on one
    pair, and the ratio is taken within it (the difference of two medians of ~400 ms is mostly noise)."""
    seal(render())
    renders, seals = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        pdf = render()
        middle = time.perf_counter()
        seal(pdf)
        renders.append((middle - start) * 1000)
        seals.append((time.perf_counter() - middle) * 1000)
    return renders, seals


def noisy_logo(path: Path, megabytes: float) -> None:
    """A logo of random pixels: it does not compress, so the order's PDF grows by about its size."""
    from PIL import Image

    side = int((megabytes * 1024 * 1024 / 3) ** 0.5)
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, "PNG")


def main() -> None:
    from app import create_app, install_settings
    from domain.core import accounts
    from domain.core.db import db
    from domain.core.models import Blob
    from domain.core.site import current as current_site
    from domain.documents import orders, seal
    from domain.requests import access
    from tests.orderfactory import make_signed_order

    with tempfile.TemporaryDirectory() as tmp:
        urls = multiprocessing.Queue()
        tsa_process = multiprocessing.Process(target=serve_tsa, args=(f"{tmp}/tsa", urls), daemon=True)
        tsa_process.start()
        tsa_url = urls.get(timeout=60)
        os.environ["INSTANCE_PATH"] = tmp
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "RATELIMIT_ENABLED": False,
                          "WTF_CSRF_ENABLED": False, "TSA_URL": tsa_url})

        def make_user(role, username=None, *, locale=None, **_):
            with app.app_context():
                user = accounts.create_user(username, PASSWORD, role, display_name=f"张{username[-3:]}", via="cli")
                user.locale = locale
                db.session.commit()
                return user.id, user.username

        with app.app_context():
            db.create_all()
            made = make_signed_order(make_user)
            order = access.get_ticket(made["number"]).service_order
            site = current_site()
            job = orders.prepare_render(order.id, site=site, force=True)

            def render():
                pdf, error = orders.run_render(job)
                assert error is None
                return pdf

            rendered = render()
            seal.seal_pdf(rendered, site)  # the generated certificate, the TSA's chain: once per process
            renders, seals = paired(render, lambda pdf: seal.seal_pdf(pdf, site))
            seal_only_ms, _ = median_ms(lambda: seal.seal_pdf(rendered, site))
            no_tsa = replace(site, tsa_url=None)
            seal_no_tsa_ms, _ = median_ms(lambda: seal.seal_pdf(rendered, no_tsa))
            stamper = seal._timestamper(tsa_url)
            tsa_ms, _ = median_ms(lambda: asyncio.run(stamper.async_timestamp(os.urandom(32), "sha256")))
            sealed = seal.seal_pdf(rendered, site)
            assert sealed.timestamp_at is not None

            # A 2 MB order: the same order with a large incompressible logo, rendered, sealed and stored.
            logo = Path(tmp) / "logo.png"
            noisy_logo(logo, 2.0)
            app.config["COMPANY_LOGO"] = str(logo)
            install_settings(app)  # (the settings are built once: built again with the logo)
            big_site = current_site()
            assert orders.render_order(order, big_site)
            db.session.commit()
            job_big = orders.prepare_seal(order.id)
            sealed_big, error = orders.run_seal(job_big, big_site)
            assert error is None
            orders.store_seal(job_big, sealed_big, None, order.created_at)
            db.session.commit()
            big = db.session.get(Blob, order.pdf_sha256).data
            client = app.test_client()

            def verify_upload():
                answer = client.post("/api/v1/verify", data={"file": (io.BytesIO(big), "order.pdf")},
                                     content_type="multipart/form-data").json
                assert answer["genuine"] and answer["reason"] == "genuine", answer
                return answer

            verify_ms, verify_max = median_ms(verify_upload)
            tampered = big[:-40] + b"%" + big[-39:]

            def verify_tampered():
                answer = client.post("/api/v1/verify", data={"file": (io.BytesIO(tampered), "order.pdf")},
                                     content_type="multipart/form-data").json
                assert not answer["genuine"], answer

            tampered_ms, _ = median_ms(verify_tampered)
        tsa_process.terminate()

    render_ms, seal_ms = statistics.median(renders), statistics.median(seals)
    ratios = sorted(sealed / rendered for rendered, sealed in zip(renders, seals, strict=True))
    load = os.getloadavg()[0]
    print(f"order: 2 pages, 4 photos; TSA on 127.0.0.1 in its own process; median of {REPEAT}; "
          f"load average {load:.1f} on {os.cpu_count()} cores")
    print(f"render alone (baseline)       {render_ms:7.1f} ms   (max {max(renders):.1f})")
    print(f"seal of that render           {seal_ms:7.1f} ms   (max {max(seals):.1f})")
    print(f"seal alone (same PDF)         {seal_only_ms:7.1f} ms   (without a TSA {seal_no_tsa_ms:.1f} ms; one bare "
          f"RFC 3161 request to the local TSA {tsa_ms:.1f} ms)")
    print(f"sealing adds {seal_ms / render_ms:.0%} of a render (median ratio of each pair "
          f"{statistics.median(ratios):.0%}, range {ratios[0]:.0%}-{ratios[-1]:.0%}; target <= 30%)")
    print(f"sizes: rendered {len(rendered) / 1024:.0f} KB, sealed {len(sealed.pdf) / 1024:.0f} KB")
    print(f"verify a {len(big) / 1024 / 1024:.1f} MB sealed order (POST /api/v1/verify): {verify_ms:.0f} ms "
          f"(max {verify_max:.0f}; target < 1000 ms); a tampered one: {tampered_ms:.0f} ms")


if __name__ == "__main__":
    main()
