"""S4's exit codes and the exceptions that carry them.

Every interface maps an exception to what it shows through ``exit_code_for``: the command
line to a process exit status, the desk to an HTTP status. The codes are documented in the
README and scripts rely on them, so they never change meaning.
"""

from __future__ import annotations

import errno
from enum import IntEnum
from pathlib import Path


class ExitCode(IntEnum):
    OK = 0
    #: the work finished, but some documents were quarantined or refused, or a check failed
    PROBLEMS = 1
    #: usage, settings, pipeline or schedule error (the message names file, line and field)
    USAGE = 2
    #: environment problem: disk full, read-only or unwritable folder, home in use
    ENVIRONMENT = 3


class S4Error(Exception):
    """An error a person can act on; ``exit_code`` says which kind it is."""

    exit_code: ExitCode = ExitCode.ENVIRONMENT


class EnvironmentProblem(S4Error):
    """The machine, not the input: disk full, read-only folder, home in use or moved."""

    exit_code = ExitCode.ENVIRONMENT


class UsageProblem(S4Error):
    """What was asked cannot be done as asked (unknown document, wrong state, bad value)."""

    exit_code = ExitCode.USAGE


class NotFound(UsageProblem, LookupError):
    """No such document, hold, certificate or box."""


class Refused(S4Error):
    """The request was understood and refused by a rule; nothing was changed."""

    exit_code = ExitCode.PROBLEMS


ENVIRONMENT_ERRNOS = frozenset({errno.ENOSPC, errno.EROFS, errno.EACCES, errno.EPERM,
                                errno.EDQUOT})

_ERRNO_REASONS = {
    errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is used up",
    errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
}


def environment_error(exc: OSError, where: Path | str) -> EnvironmentProblem:
    """A plain sentence for an OS error that is the machine's fault, not a document's."""
    reason = _ERRNO_REASONS.get(exc.errno, exc.strerror or str(exc))
    return EnvironmentProblem(
        f"cannot write to {where}: {reason}. Nothing was lost; fix it and run again.")


def exit_code_for(exc: BaseException) -> ExitCode:
    """The documented exit status for an exception that reached an interface."""
    if isinstance(exc, S4Error):  # ConfigError included: it is a usage error
        return exc.exit_code
    if isinstance(exc, OSError):
        return ExitCode.ENVIRONMENT
    if isinstance(exc, (LookupError, ValueError)):
        return ExitCode.USAGE
    return ExitCode.ENVIRONMENT
