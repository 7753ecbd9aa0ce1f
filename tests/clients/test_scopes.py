"""Which scopes a client may be registered for (`clients.scopes`)."""

from __future__ import annotations

import pytest

from clients.scopes import UnknownScope, check_known_scopes


def test_scope_check_suggests_only_close_names() -> None:
    check_known_scopes(["openid", "tax.file"], known={"tax.file"})
    with pytest.raises(UnknownScope) as info:
        check_known_scopes(["openid", "tax.fiel"], known={"tax.file", "customs.declare"})
    assert info.value.nearest == "tax.file" and info.value.field == "scopes"
    check_known_scopes(["brand.new"], known=set(), new=["brand.new"])
