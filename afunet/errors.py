"""Errors a user can meet, each with a message that names the file and the fix."""

import sys
from pathlib import Path


class AfunetError(Exception):
    """Base class: the CLI prints these as one line instead of a traceback (exit status 1)."""

    exit_status = 1


class UsageError(AfunetError, ValueError):
    """A setting, option or argument is invalid or contradicts another (exit status 2)."""

    exit_status = 2


class DataError(AfunetError):
    """A data file is missing, unreadable, of the wrong shape, or fails its checksum."""


class DatasetMissingError(DataError):
    """A whole data set is absent from the data root; the message gives the command that gets it."""


class CheckpointError(AfunetError):
    """A checkpoint is missing, corrupt, or holds something other than plain tensors and config."""


def print_error(message) -> None:
    """Print a message for the user on stderr as one line, ``afunet: error: ...``."""
    print(f"afunet: error: {' '.join(str(message).split())}", file=sys.stderr)


def run_command(command, *args, debug: bool = False) -> int:
    """Call ``command(*args)`` the way every afunet entry point does: no traceback for users.

    AfunetError prints its one line and returns its exit status; any other exception is a bug,
    printed as one line that asks for ``--debug`` (which re-raises, for the traceback).
    """
    try:
        return int(command(*args) or 0)
    except KeyboardInterrupt:
        print("afunet: interrupted (a training run resumes when the command is run again)",
              file=sys.stderr)
        return 130
    except AfunetError as exc:
        if debug:
            raise
        print_error(exc)
        return exc.exit_status
    except Exception as exc:  # noqa: BLE001 - the last line of defence for users
        if debug:
            raise
        print_error(f"unexpected {type(exc).__name__}: {exc} (a bug: run the command again "
                    "with --debug for the traceback, and report it)")
        return 1


def ensure_folder(path, setting: str = "--out"):
    """Create an output folder (and its parents), or a UsageError naming the setting and why."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UsageError(f"{setting} {path} is a file, or lies inside one: give a folder") \
            from None
    except PermissionError:
        raise UsageError(f"{setting} {path} cannot be created here (permission denied): "
                         "give a folder you can write to") from None
    return path
