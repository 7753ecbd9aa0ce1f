"""Fixtures of the back-channel logout tests (outbox, token, delivery): see tests/backchannel.py."""

from __future__ import annotations

from tests.backchannel import audit, bc, clock, keyring, registry  # noqa: F401 - fixtures
