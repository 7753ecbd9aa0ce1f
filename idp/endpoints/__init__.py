"""One router per endpoint; `idp.app` includes them."""
