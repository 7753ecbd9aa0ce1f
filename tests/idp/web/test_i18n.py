"""Every sentence a page can show has its Persian translation (Persian is the default language)."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from idp.signin.act_as import ROLE_NAMES
from idp.web import pages
from idp.web.i18n import format_day, load_translations, localize_digits

TEMPLATES = sorted((Path(pages.__file__).parent / "templates").rglob("*.html"))
assert TEMPLATES, "no templates found: the parametrized check below would test nothing"
PLACEHOLDER = re.compile(r"%\(\w+\)s")


def _template_messages(path: Path) -> list[str]:
    found = extract_from_file("jinja2", str(path), keywords={"_": None}, options={})
    return [msg if isinstance(msg, str) else msg[0] for _, msg, _, _ in found]


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: p.name)
def test_every_template_sentence_has_a_persian_translation(template: Path) -> None:
    persian = load_translations()["fa"]
    untranslated = [m for m in _template_messages(template) if persian.gettext(m) == m]
    assert untranslated == []
    for message in _template_messages(template):
        assert sorted(PLACEHOLDER.findall(persian.gettext(message))) == sorted(PLACEHOLDER.findall(message))


def test_role_names_are_translated() -> None:
    persian = load_translations()["fa"]
    assert [name for name in ROLE_NAMES.values() if persian.gettext(name) == name] == []


def _refusal_messages() -> list[str]:
    """Every sentence a refused delegation can carry: the first argument of each `DelegationRefused`
    raised in the rules and the service, and the status sentences they pick from."""
    import ast

    import legal_entities.rules
    import legal_entities.service

    found = list(legal_entities.rules._NOT_ACTIVE.values())
    for module in (legal_entities.rules, legal_entities.service):
        tree = ast.parse(Path(str(module.__file__)).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "DelegationRefused" and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.append(first.value)
    return found


def test_refused_delegations_are_explained_in_persian() -> None:
    persian = load_translations()["fa"]
    messages = _refusal_messages()
    assert len(messages) >= 10  # the scan found the rules
    assert [m for m in messages if persian.gettext(m) == m] == []
    for message in messages:
        assert sorted(PLACEHOLDER.findall(persian.gettext(message))) == sorted(PLACEHOLDER.findall(message))


def test_numbers_and_days_are_written_in_persian_only_for_persian_pages() -> None:
    assert localize_digits("30 ثانیه، 2 دقیقه", "fa") == "۳۰ ثانیه، ۲ دقیقه"
    assert localize_digits("30 seconds", "en") == "30 seconds"
    assert format_day(date(1990, 3, 21), "fa") == "1369/01/01"
    assert format_day(date(1990, 3, 21), "en") == "1990-03-21"
