"""A local RFC 3161 time-stamping authority on 127.0.0.1 for the seal's tests and bench: certomancer's Animator (a
test CA with a TSA certificate and a CRL repository, answering real TimeStampReq/TimeStampResp over HTTP as a
public TSA does, refusing malformed requests) served by werkzeug in a thread; and a TSA that is down (a server that
answers 503, as the proxy in front of a TSA that stopped does)."""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

CONFIG = """
external-url-prefix: "{prefix}"
keysets:
  testing:
    path-prefix: "{keys}"
    keys:
      root: {{path: root.key.pem}}
      tsa: {{path: tsa.key.pem}}
pki-architectures:
  testing:
    keyset: testing
    entity-defaults: {{country-name: CN, organization-name: Test Time Authority}}
    entities:
      root: {{common-name: Test Root CA}}
      tsa: {{common-name: Test Time Stamping Authority}}
    certs:
      root:
        subject: root
        subject-key: root
        issuer: root
        authority-key: root
        validity: {{valid-from: "2020-01-01T00:00:00+0000", valid-to: "2100-01-01T00:00:00+0000"}}
        extensions:
          - id: basic_constraints
            critical: true
            value: {{ca: true}}
          - id: key_usage
            critical: true
            smart-value: {{schema: key-usage, params: [digital_signature, key_cert_sign, crl_sign]}}
      tsa:
        issuer: root
        validity: {{valid-from: "2020-01-01T00:00:00+0000", valid-to: "2090-01-01T00:00:00+0000"}}
        extensions:
          - id: key_usage
            critical: true
            smart-value: {{schema: key-usage, params: [digital_signature]}}
          - id: extended_key_usage
            critical: true
            value: [time_stamping]
          - id: crl_distribution_points
            smart-value: {{schema: crl-dist-url, params: {{crl-repo-names: [root]}}}}
    services:
      crl-repo:
        root: {{for-issuer: root, signing-key: root, simulated-update-schedule: "P90D"}}
      time-stamping:
        tsa: {{signing-key: tsa, signing-cert: tsa}}
"""


def _write_key(path: Path) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))


@contextmanager
def local_tsa(folder: Path) -> Iterator[dict]:
    """Serve the test CA's TSA; yields {"url", "requests"} (the number of time-stamp requests answered)."""
    from certomancer.integrations.animator import Animator, AnimatorArchStore
    from certomancer.registry import CertomancerConfig
    from werkzeug.serving import make_server

    keys = folder / "keys"
    keys.mkdir(parents=True, exist_ok=True)
    for name in ("root", "tsa"):
        if not (keys / f"{name}.key.pem").exists():
            _write_key(keys / f"{name}.key.pem")
    counter = {"requests": 0}
    holder: dict = {}

    def app(environ, start_response):
        if environ.get("PATH_INFO", "").startswith("/testing/tsa/"):
            counter["requests"] += 1
        return holder["animator"](environ, start_response)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    prefix = f"http://127.0.0.1:{server.server_port}"
    config = CertomancerConfig.from_yaml(CONFIG.format(prefix=prefix, keys=keys), key_search_dir=str(folder))
    holder["animator"] = Animator(AnimatorArchStore(config.pki_archs), with_web_ui=False)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        info = {"url": f"{prefix}/testing/tsa/tsa", "counter": counter}
        yield info
    finally:
        server.shutdown()
        server.server_close()


class _DownHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - the http.server API
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.hits += 1
        body = b"503 Service Unavailable: time-stamping service under maintenance"
        self.send_response(503)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextmanager
def down_tsa() -> Iterator[dict]:
    """A TSA that is down: every request answered 503 (no time-stamp reply)."""
    server = HTTPServer(("127.0.0.1", 0), _DownHandler)
    server.hits = 0
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield {"url": f"http://127.0.0.1:{server.server_port}/tsa", "server": server}
    finally:
        server.shutdown()
        server.server_close()
