"""Errors a user can meet, each with a message that names the file and the fix."""

import sys


class AfunetError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback."""


class DataError(AfunetError):
    """A data file is missing, unreadable, of the wrong shape, or fails its checksum."""


class DatasetMissingError(DataError):
    """A whole data set is absent from the data root; the message gives the command that gets it."""


class CheckpointError(AfunetError):
    """A checkpoint is missing, corrupt, or holds something other than plain tensors and config."""


def print_error(message) -> None:
    """Print a message for the user on stderr as one line, ``afunet: error: ...``."""
    print(f"afunet: error: {' '.join(str(message).split())}", file=sys.stderr)
