"""The ``carve`` command line: parse, call one use case, render."""
