"""Client registry: agency portals and back ends registered as OAuth clients, and their admin CLI."""
