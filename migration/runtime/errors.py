"""Errors the runtime raises for problems a user can fix (config, URLs, names)."""

from __future__ import annotations

from pathlib import Path


class CarveError(Exception):
    """A problem a user caused and can fix; the CLI prints it as one line."""

    exit_code = 2


class ConfigError(CarveError):
    """``carve.toml`` or an environment variable is malformed."""


class SourceNotParsed(CarveError):
    """A Python file of the project that is not valid Python (its imports cannot be read)."""


class UnknownModule(CarveError):
    """A module name that the project does not declare."""


class DatabaseUnreachable(CarveError):
    """A database URL that cannot be connected to."""

    exit_code = 1


class UnknownEvent(CarveError):
    """An event type that no contract or ``carve.toml`` declares."""


class BrokerUnreachable(CarveError):
    """The message broker cannot be reached."""

    exit_code = 1


class CannotWrite(CarveError):
    """A file or folder the user named cannot be written (no such folder, a file in the way)."""


def cannot_write(path: Path, exc: OSError) -> CannotWrite:
    """The error for ``path``, naming the part of it that is wrong rather than the OS's words.

    ``No such file or directory`` about a file carve is about to create, or ``Not a
    directory`` about a folder it creates, hides which folder is missing or is a file.
    """
    found = next((parent for parent in path.parents if parent.exists()), None)
    if found is not None and not found.is_dir():
        reason = f"{found} is a file, not a folder"
    elif isinstance(exc, FileNotFoundError) and not path.parent.is_dir():
        reason = f"no such folder {path.parent}"
    else:
        reason = exc.strerror or str(exc)
    return CannotWrite(f"cannot write {path}: {reason}")
