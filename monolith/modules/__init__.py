"""The monolith's modules. Each talks to the others only through ``contracts``."""
