#!/bin/sh
# Extract the translatable strings and merge them into the catalogs (then translate the new entries in
# translations/*/LC_MESSAGES/messages.po). `make install` compiles the catalogs.
set -e
cd "$(dirname "$0")/.."
.venv/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
  --ignore-dirs=".venv migrations tests bench build scripts" -o translations/messages.pot .
.venv/bin/pybabel update -i translations/messages.pot -d translations --no-fuzzy-matching --ignore-obsolete
