"""Authenticators: the factors a person proves in a session (password, SMS code, authenticator app,
passkey), each behind the protocol in `base` and gathered in its `Authenticators` registry."""
