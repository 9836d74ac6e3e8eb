"""The errors a run ends with: bad input (a config key or file named in one line), or a run that cannot go on."""


class ConfigError(ValueError):
    """A configuration problem, with the offending key or file in its message."""


class RunFailed(RuntimeError):
    """A run that cannot go on (a batch whose denoiser kept failing); finished batches stay on disk for resume."""
