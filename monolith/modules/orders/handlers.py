"""The orders module subscribes to no events; it publishes ``order.created``."""
