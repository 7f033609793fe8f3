"""The panel's Polish: every string the templates translate has a Polish entry with the same
fields, and the language comes from the cookie, else the browser's weights."""

from __future__ import annotations

import re
import string
from pathlib import Path

from glue.panel.i18n import POLISH, chosen, translator

TEMPLATES = Path(__file__).parents[2] / "glue" / "panel" / "templates"
LITERAL = re.compile(r"""_\((?:"([^"]*)"|'([^']*)')""")


def _fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_translated_string_of_the_templates_has_its_polish() -> None:
    found = {
        a or b for page in TEMPLATES.glob("*.html") for a, b in LITERAL.findall(page.read_text())
    }
    assert len(found) > 100
    missing = sorted(found - set(POLISH))
    assert not missing, f"no Polish for {missing}"
    for english, polish in POLISH.items():
        assert _fields(english) == _fields(polish), english


def test_the_language_is_the_cookie_else_the_browsers_best() -> None:
    assert chosen(None, "") == "en"
    assert chosen(None, "de-DE,pl;q=0.8,en;q=0.7") == "pl"
    assert chosen(None, "pl;q=0.5,en-US;q=0.9") == "en"
    assert chosen(None, "pl;q=0,en;q=0.1") == "en"
    assert chosen(None, "pl;q=bad, fr") == "en"
    assert chosen("pl", "en") == "pl" and chosen("xx", "pl") == "pl"
    assert translator("pl")("Page {page} of {pages}", page=2, pages=9) == "Strona 2 z 9"
    assert translator("en")("Page {page} of {pages}", page=2, pages=9) == "Page 2 of 9"
