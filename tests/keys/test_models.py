"""Signing key values (`keys.models`): which algorithms are accepted and which keys are published."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keys.errors import UnsupportedAlgorithm
from keys.models import KeyState, SigningKey, check_alg


def test_only_es256_and_rs256_are_accepted_and_the_refusal_names_them() -> None:
    assert check_alg("ES256") == "ES256" and check_alg("RS256") == "RS256"
    for alg in ("HS256", "none", "es256", "EdDSA", ""):
        with pytest.raises(UnsupportedAlgorithm, match="expected one of ES256, RS256"):
            check_alg(alg)
    # Callers that expect a ValueError (option parsing) get one.
    with pytest.raises(ValueError):
        check_alg("PS256")


@pytest.mark.parametrize(("state", "published"), [
    (KeyState.NEXT, True), (KeyState.ACTIVE, True), (KeyState.RETIRED, True), (KeyState.REMOVED, False)])
def test_every_key_but_a_removed_one_is_published(state: KeyState, published: bool) -> None:
    key = SigningKey(kid="k", alg="ES256", state=state, public_jwk={"kid": "k", "alg": "ES256", "use": "sig"},
                     created_at=datetime(2030, 1, 1, tzinfo=UTC))
    assert key.published is published
