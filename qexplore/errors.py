"""One exception tree for qexplore, translated to an exit code once, at the CLI.

    QexploreError                exit 4 unless a subclass says otherwise
    ├── RecipeError              exit 2  bad recipe or flags (carries one line per problem)
    ├── HardwareError            exit 3  the machine or an environment lacks something
    ├── QuantizeError            exit 4
    ├── ServerError              exit 4  (carries the server log tail)
    ├── LoadTestError            exit 4
    ├── EvalError                exit 4
    └── StoreError               exit 4
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """The process exit codes, the CLI's contract with scripts and nightly jobs."""

    OK = 0
    PARTIAL = 1
    BAD_INPUT = 2
    ENVIRONMENT = 3
    STAGE_FAILED = 4
    INCONCLUSIVE = 5  # compare: no regression shown, but the noise hides whether there is one


class QexploreError(Exception):
    """Base of every error qexplore raises on purpose."""

    exit_code = ExitCode.STAGE_FAILED

    def lines(self) -> list[str]:
        """The message as the lines a user should see (no traceback)."""
        return [f"error: {self}"]


class RecipeError(QexploreError):
    """A recipe or a command-line value is invalid; ``problems`` has one line per problem."""

    exit_code = ExitCode.BAD_INPUT

    def __init__(self, problems: list[str] | str, source: str | None = None) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__("; ".join(self.problems))

    def lines(self) -> list[str]:
        prefix = f"{self.source}: " if self.source else ""
        return [prefix + p for p in self.problems]


class HardwareError(QexploreError):
    exit_code = ExitCode.ENVIRONMENT


class QuantizeError(QexploreError):
    pass


class ServerError(QexploreError):
    """The server failed to start, to answer, or died. ``reason`` ends with the root cause
    from its log; ``log_tail`` holds the log lines that lead to it."""

    def __init__(self, reason: str, log_tail: str = "", log_path: str | None = None) -> None:
        self.reason = reason
        self.log_tail = log_tail
        self.log_path = log_path
        super().__init__(reason)

    def lines(self) -> list[str]:
        """The first line says what, why and where the log is (reports show only it)."""
        where = f" (server log: {self.log_path})" if self.log_path else ""
        out = [f"error: {self.reason}{where}"]
        if self.log_tail:
            out += ["--- the server log where it failed ---", *self.log_tail.splitlines()]
        return out


class LoadTestError(QexploreError):
    pass


class EvalError(QexploreError):
    pass


class StoreError(QexploreError):
    pass
