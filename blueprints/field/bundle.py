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
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
STATIC = ROOT / "static"
ENTRY = "field/app.js"
# Beside the modules: their relative imports and import.meta.url stay right.
NAME = "field/app.bundle.js"
# The page's two stylesheets as one too (a request less, compressed together: 6.4 -> 5.9 KB), in this order.
STYLESHEETS = ["css/app.css", "field/field.css"]
CSS_NAME = "field/app.bundle.css"
# Left out of the bundle, as files of their own: the signature screen (imported when a customer signs, with the
# signature pad), and the barcode reader (not in the shell: a page that needs it fetches it). idb is bundled in
# (9 KB as published, 3 KB minified with the rest).
EXTERNAL = ["./signature.js", "../vendor/signature_pad-*", "../vendor/barcode-detector-*"]
# The licence of what is bundled in, named at the top (the minified code keeps no comment of its own).
BANNER = "/* idb 8.0.4, ISC licence, (c) 2016 Jake Archibald: /static/vendor/idb-8.0.4/LICENSE */"
TARGET = "es2020"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Bundle:
    files: dict[str, bytes]  # NAME and CSS_NAME -> their content
    inputs: frozenset[str]  # the static files inside them, as "field/ui.js", "vendor/idb-8.0.4/index.js"

    def etag(self, name: str) -> str:
        return hashlib.sha256(self.files[name]).hexdigest()[:32]


def sources_stamp() -> int:
    """The newest change among the files a bundle can be made from: a module edited while the app runs (make run)
    is bundled again on the next request, as a static file is sent again."""
    paths = [*(STATIC / "field").glob("*.js"), *(STATIC / name for name in STYLESHEETS),
             *(STATIC / "vendor").glob("idb-*/*.js")]
    return max((path.stat().st_mtime_ns for path in paths), default=0)


def esbuild_binary() -> str | None:
    """The one `make install` put in node_modules, else one on the PATH."""
    local = ROOT / "node_modules" / ".bin" / "esbuild"
    return str(local) if local.exists() else shutil.which("esbuild")


@lru_cache(maxsize=2)
def bundled(binary: str | None, stamp: int = 0) -> Bundle | None:
    """The bundle, or None (no esbuild, or it failed: logged) to send the modules as they are; `stamp`
    (sources_stamp) makes it again when a source changed."""
    if not binary:
        return None
    field = STATIC / "field"
    common = [binary, "--bundle", "--minify", "--charset=utf8", "--legal-comments=none", "--log-level=error"]
    with tempfile.TemporaryDirectory() as tmp:
        out, meta = Path(tmp) / "app.js", Path(tmp) / "meta.json"
        try:
            subprocess.run([*common, str(STATIC / ENTRY), "--format=esm", f"--target={TARGET}", f"--outfile={out}",
                            f"--metafile={meta}", f"--banner:js={BANNER}",
                            *(f"--external:{name}" for name in EXTERNAL)],
                           cwd=field, check=True, capture_output=True, timeout=60)
            code, inputs = out.read_bytes(), json.loads(meta.read_text())["inputs"]
            imports = "".join(f'@import "{os.path.relpath(STATIC / name, field)}";\n' for name in STYLESHEETS)
            css = subprocess.run([*common, "--loader=css"], input=imports.encode(), cwd=field, check=True,
                                 capture_output=True, timeout=60).stdout
        except (OSError, subprocess.SubprocessError, ValueError, KeyError) as error:
            detail = getattr(error, "stderr", b"") or b""
            log.warning("the phone's modules sent unbundled: esbuild failed: %s %s", error,
                        detail.decode(errors="replace")[:2000])
            return None
    # metafile paths are relative to the working directory (static/field/)
    names = frozenset((field / path).resolve().relative_to(STATIC).as_posix() for path in inputs)
    return Bundle(files={NAME: code, CSS_NAME: css}, inputs=names | set(STYLESHEETS))
