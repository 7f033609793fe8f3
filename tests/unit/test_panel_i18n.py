"""The panel's Polish: every string the templates translate has a Polish entry with the same
fields, every state and kind the pages show its Polish term, and the language comes from the
cookie, else the browser's weights."""

from __future__ import annotations

import re
import string
from pathlib import Path
from typing import get_args

from glue.models import AccountState, ServerState
from glue.monitor.rules import Severity
from glue.panel.i18n import POLISH, POLISH_TERMS, chosen, term, translator
from glue.services.history import CHANGES
from glue.services.topups import STATES
from glue.state.ledger import KINDS

TEMPLATES = Path(__file__).parents[2] / "glue" / "panel" / "templates"
LITERAL = re.compile(r"""_\((?:"([^"]*)"|'([^']*)')""")
TERM = re.compile(r"""\|\s*term\("([^"]*)"\)""")


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


def test_every_state_and_kind_the_pages_show_has_its_polish_term() -> None:
    shown = {
        "account state": {s.value for s in AccountState},
        "server state": {s.value for s in ServerState},
        "history": {*CHANGES, "charge"},
        "ledger": set(KINDS),
        "top-up state": set(STATES),
        "severity": set(get_args(Severity)),
    }
    assert {kind: set(terms) for kind, terms in POLISH_TERMS.items()} == shown
    used = {kind for page in TEMPLATES.glob("*.html") for kind in TERM.findall(page.read_text())}
    assert used == set(POLISH_TERMS)
    # One English word, two Polish ones: the state agrees with what it describes.
    assert term("pl", "account state", "active") == "aktywne"
    assert term("pl", "server state", "active") == "aktywny"
    assert term("en", "ledger", "credit") == "credit"
    assert term("pl", "ledger", "bonus") == "bonus"  # a value without a term: as it is
