"""Helpers shared by the test suite: real services, free ports, subprocess servers."""
