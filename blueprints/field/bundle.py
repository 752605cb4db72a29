"""The phone's own ES modules as one file, made by esbuild once per process when first needed (issue 24).

Sent one by one, the 17 modules took four turns of HTTP/1.1's six connections on a poor line (400 ms each) and
were compressed each on its own; bundled, they are one request, compressed together, and the names the modules no
longer export to each other are shortened (52.7 KB of shell -> under 40 KB). The repository keeps the commented
modules (the tests run them in Node and check their size); the bundle is made from them and never committed.
esbuild is installed by `make install` (package.json, pinned with its checksum in package-lock.json); where it is
missing or fails, the page and the service worker name the modules as before.
"""
from __future__ import annotations

import hashlib
import json
import logging
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "static"
ENTRY = "field/app.js"
NAME = "field/app.bundle.js"  # beside the modules: their relative imports and import.meta.url stay right
# Left out of the bundle, as files of their own: the signature screen (imported when a customer signs, with the
# signature pad), and the barcode reader (not in the shell: a page that needs it fetches it). idb is bundled in
# (9 KB as published, 3 KB minified with the rest).
EXTERNAL = ["./signature.js", "../vendor/signature_pad-*", "../vendor/barcode-detector-*"]
TARGET = "es2020"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bundle:
    code: bytes
    inputs: frozenset[str]  # the static files inside it, as "field/ui.js", "vendor/idb-8.0.4/index.js"
    etag: str


def esbuild_binary() -> str | None:
    """The one `make install` put in node_modules, else one on the PATH."""
    local = ROOT / "node_modules" / ".bin" / "esbuild"
    return str(local) if local.exists() else shutil.which("esbuild")


@cache
def bundled(binary: str | None) -> Bundle | None:
    """The bundle, or None (no esbuild, or it failed: logged) to send the modules as they are."""
    if not binary:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        out, meta = Path(tmp) / "app.js", Path(tmp) / "meta.json"
        command = [binary, str(STATIC / ENTRY), "--bundle", "--format=esm", "--minify", "--charset=utf8",
                   f"--target={TARGET}", "--legal-comments=none", "--log-level=error", f"--outfile={out}",
                   f"--metafile={meta}", *(f"--external:{name}" for name in EXTERNAL)]
        try:
            subprocess.run(command, cwd=STATIC / "field", check=True, capture_output=True, timeout=60)
            code, inputs = out.read_bytes(), json.loads(meta.read_text())["inputs"]
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as error:
            detail = getattr(error, "stderr", b"") or b""
            log.warning("the phone's modules sent unbundled: esbuild failed: %s %s", error,
                        detail.decode(errors="replace")[:2000])
            return None
    # metafile paths are relative to the working directory (static/field/)
    names = frozenset((STATIC / "field" / path).resolve().relative_to(STATIC).as_posix() for path in inputs)
    return Bundle(code=code, inputs=names, etag=hashlib.sha256(code).hexdigest()[:32])
