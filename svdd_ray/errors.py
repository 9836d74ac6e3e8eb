"""The one error type for bad input: a config key or file named in a single line."""


class ConfigError(ValueError):
    """A configuration problem, with the offending key or file in its message."""
