"""Exceptions the library raises; only ``cli.py`` turns them into exit codes."""


class GpubenchError(Exception):
    """A failure with a message a user can act on (exit code 1)."""


class UsageError(GpubenchError):
    """Bad usage or bad input: exit code 2, one line saying what is wrong and what is accepted."""


class DataError(UsageError):
    """The training text is missing, empty, binary or too short."""


class ModelFileError(UsageError):
    """A model name is unknown or a model file does not honour the contract."""


class CorpusUnavailable(GpubenchError):
    """The corpus could not be downloaded and is not cached (offline)."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}; pass --data FILE to use a local text file")
        self.problem = problem


class RunNotFound(UsageError, ValueError):
    """A path that holds no readable gpubench run (no results.json, or not one of ours)."""
