"""Authenticators: the factors a person proves in a session (password, OTP, TOTP, passkey)."""
