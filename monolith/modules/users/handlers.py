"""The users module subscribes to no events."""
