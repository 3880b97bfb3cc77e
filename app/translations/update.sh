#!/usr/bin/env bash
# Re-extract the UI strings and bring every catalogue up to date; run it from anywhere after
# changing templates or messages, then translate the entries left empty and run it again (or just
# `pybabel compile`). tests/unit/app/test_translations.py names the strings a catalogue lacks.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYBABEL=.venv/bin/pybabel
DIR=app/translations
POT=$DIR/messages.pot
LANGS=(de fr it en)
# The same keywords as in tests/unit/app/test_translations.py (the test checks they agree).
KEYWORDS=(-k _ -k gettext -k ngettext:1,2 -k lazy_gettext -k N_ -k InvalidInput:2)

"$PYBABEL" extract -F babel.cfg "${KEYWORDS[@]}" -c Translators: \
    --add-location=file --sort-output \
    --project=einwohnerportal --copyright-holder="Kanton Luzern" \
    -o "$POT" .

for lang in "${LANGS[@]}"; do
    if [[ -f $DIR/$lang/LC_MESSAGES/messages.po ]]; then
        "$PYBABEL" update --no-fuzzy-matching --ignore-obsolete -i "$POT" -d "$DIR" -l "$lang"
    else
        "$PYBABEL" init -i "$POT" -d "$DIR" -l "$lang"
    fi
done

"$PYBABEL" compile --statistics -d "$DIR"
