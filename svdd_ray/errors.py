"""The errors a run ends with: bad input (a config key or file named in one line), or a run that cannot go on."""


class ConfigError(ValueError):
    """A configuration problem, with the offending key or file in its message."""


class RunFailed(RuntimeError):
    """A run that cannot go on (a batch whose denoiser kept failing); finished batches stay on disk for resume."""


class Interrupted(RuntimeError):
    """The user stopped the run (Ctrl-C, SIGTERM); finished batches stay on disk for resume."""


def one_line(err: BaseException) -> str:
    """An error as ``Type: first line of its message``."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__
