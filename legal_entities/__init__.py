"""Legal entities and the people who may act for them."""
