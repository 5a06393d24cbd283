"""Errors the runtime raises for problems a user can fix (config, URLs, names)."""


class CarveError(Exception):
    """A problem a user caused and can fix; the CLI prints it as one line."""

    exit_code = 2


class ConfigError(CarveError):
    """``carve.toml`` or an environment variable is malformed."""


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
