"""``carve extract``: turn one module of the monolith into a service folder of its own."""
