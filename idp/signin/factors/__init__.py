"""The factors a person can prove, each as an authenticator (`levels.authenticators`) with its page
glue (a module here and a partial in `idp/web/templates/factors/`).

A new factor: its authenticator, its module here (a `FactorPage` and a `factor(deps)` maker), its
partial, and its module in `BUILT_IN` below. The level policy, the step-up choice and the pages take
everything else from the registry (`Factors`).
"""

from __future__ import annotations

from collections.abc import Iterable

from idp.signin.factors import otp, passkey, password, sms
from idp.signin.factors.base import FactorPage, Factors, StepView
from idp.signin.factors.deps import FactorDeps
from levels.authenticators.base import Authenticator

__all__ = ["BUILT_IN", "FactorDeps", "FactorPage", "Factors", "StepView", "make_factors"]

# Each module has `PAGE` (stateless: the account page registers its set-up routes at import) and
# `factor(deps)`, which makes its authenticator.
BUILT_IN = (password, sms, otp, passkey)


def make_factors(deps: FactorDeps, extra: Iterable[tuple[Authenticator, FactorPage]] = ()) -> Factors:
    """The registry: the built-in factors, and `extra` ones (tests, or a deployment's own)."""
    return Factors([*(module.factor(deps) for module in BUILT_IN), *extra])
