"""Picking the reader of a registry export, reading the file, and the limits common to every format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from legal_entities.registry_file import (
    MAX_ERRORS,
    RegistryFileError,
    RegistryFormat,
    format_for,
    parse_registry,
    read_registry_file,
)
from tests.legal_entities.registry_samples import ACME, CEO, HEADER, entity


def test_errors_are_capped() -> None:
    rows = "".join(f"{ACME},Acme,t,active,,{CEO},bad-role,,,\n" for _ in range(MAX_ERRORS + 20))
    with pytest.raises(RegistryFileError) as caught:
        parse_registry(f"{HEADER}\n{rows}", "csv")
    assert len(caught.value.errors) == MAX_ERRORS and caught.value.truncated


def test_a_file_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "registry.json"
    path.write_bytes(b'[\n{"name": "\xff"}]')
    with pytest.raises(RegistryFileError) as caught:
        read_registry_file(path)
    assert caught.value.errors == [(2, "the file is not UTF-8 text")]


def test_format_follows_the_extension_unless_given(tmp_path: Path) -> None:
    assert [format_for(n) for n in ("a.csv", "a.JSON", "a.jsonl", "a.ndjson", "a.txt")] == [
        RegistryFormat.csv,
        RegistryFormat.json,
        RegistryFormat.jsonl,
        RegistryFormat.jsonl,
        RegistryFormat.csv,
    ]
    path = tmp_path / "export.txt"
    path.write_text(json.dumps([entity()]))
    (acme,) = read_registry_file(path, "json")
    assert acme.national_id == ACME
