"""carve: take a modular monolith apart into services, one module at a time."""

__version__ = "0.1.0"
