"""Every sentence a page can show has its Persian translation (Persian is the default language)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_file

from idp.endpoints.act_as import ROLE_NAMES
from idp.i18n import load_translations

TEMPLATES = sorted((Path(__file__).parents[2] / "idp" / "templates").glob("*.html"))
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
