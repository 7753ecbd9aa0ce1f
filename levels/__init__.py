"""Assurance levels, identity proofing tiers and authenticators."""
