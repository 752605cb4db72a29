#!/bin/sh
# Installs the Debian packages the app needs when they are missing; with --test, also what the tests need.
#   app:   a venv for Python, Pango for WeasyPrint, a Simplified Chinese font, an emoji font (what a phone can
#          type prints: WeasyPrint embeds its colour glyphs as images over extractable text), fast font subsetting,
#          Node and npm for esbuild (the Makefile installs it: it bundles the phone's modules)
#   tests: poppler-utils (pdftotext, pdffonts, pdfimages), Debian's Chromium for the browser tests (Node also runs
#          the phone's pure modules: static/field/flow.js)
set -e
packages="fontconfig fonts-noto-cjk fonts-noto-color-emoji libharfbuzz-subset0 libpango-1.0-0 libpangoft2-1.0-0 curl"
packages="$packages nodejs"
[ "$1" = "--test" ] && packages="$packages poppler-utils chromium"

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
# Debian's nodejs comes without npm (its own package); NodeSource's nodejs includes it.
command -v npm >/dev/null 2>&1 || missing="$missing npm"
# Debian's python3 ships without ensurepip; a python from elsewhere (pyenv) has its own.
python3 -c "import ensurepip, venv" 2>/dev/null || missing="$missing python3-venv"

[ -z "$missing" ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages:$missing (install them with your package manager)" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" != "0" ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "Missing system packages:$missing; run as root: apt-get install$missing" >&2
    exit 1
  fi
fi
echo "Installing system packages:$missing"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
