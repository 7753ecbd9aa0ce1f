"""Signing keys: generation, encryption at rest, rotation states, JWKS, signing and verification."""
