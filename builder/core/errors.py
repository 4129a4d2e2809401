"""One error hierarchy for the whole tool.

The library raises these; only the CLI turns them into a message and an exit
code. Each message says what is wrong and what to do next. Foreign exceptions
are wrapped at the boundary with ``raise ... from``.
"""

from __future__ import annotations


class BuilderError(Exception):
    """Root of every error the tool reports to a user."""

    exit_code = 1


class ConfigError(BuilderError):
    """The backend's configuration is missing or invalid, or a flag is wrong."""

    exit_code = 2


class EngineError(BuilderError):
    """No usable Docker engine or BuildKit-capable client."""

    exit_code = 3


class BuildError(BuilderError):
    """A docker build, a download or another step of the build failed."""

    exit_code = 4


class AnalysisError(BuilderError):
    """The sources or the lock file cannot be analysed (syntax error, unknown import)."""

    exit_code = 5


class LockError(AnalysisError):
    """The lock file cannot be read or does not resolve to wheels for the target."""


class TemplateError(BuilderError):
    """A SAM template cannot be read, or a migration or rollback is not possible."""

    exit_code = 6


class InvokeError(BuilderError):
    """A local invocation failed: function error, init error or timeout."""

    exit_code = 7


class RegistryError(BuilderError):
    """A push to, or a login at, a container registry failed."""

    exit_code = 8


class RegressionError(BuilderError):
    """Images grew past the size baseline's tolerance, or past a budget or a Lambda limit."""

    exit_code = 9


class CommandFailed(BuildError):
    """An external command exited non-zero; ``output`` holds everything it printed."""

    def __init__(self, argv: list[str], returncode: int, output: str, hint: str = "", timed_out: bool = False) -> None:
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        self.timed_out = timed_out
        message = f"`{' '.join(argv[:3])} ...` " + ("was cut off" if timed_out else f"failed with exit code {returncode}.")
        if hint:
            message += " " + hint
        super().__init__(message)
