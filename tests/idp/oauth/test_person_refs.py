"""Sealed person references (`idp.oauth.person_refs`): only our key opens them, and no two match."""

from __future__ import annotations

import secrets

from idp.oauth.person_refs import PersonRefs


def test_a_reference_opens_to_the_person_only_with_our_key() -> None:
    refs = PersonRefs(secrets.token_bytes(32))
    sealed = refs.seal("person-123")
    assert "person-123" not in sealed
    assert refs.open(sealed) == "person-123"
    assert PersonRefs(secrets.token_bytes(32)).open(sealed) is None  # another deployment's key


def test_two_references_to_one_person_differ() -> None:
    refs = PersonRefs(secrets.token_bytes(32))
    assert refs.seal("person-123") != refs.seal("person-123")


def test_junk_never_opens() -> None:
    refs = PersonRefs(secrets.token_bytes(32))
    sealed = refs.seal("person-123")
    tampered = sealed[:-2] + ("AA" if not sealed.endswith("AA") else "BB")
    for junk in ("", "x", "!!!!", "a" * 5000, tampered, sealed[:-4]):
        assert refs.open(junk) is None, junk
