"""The reference modular monolith that carve takes apart."""
