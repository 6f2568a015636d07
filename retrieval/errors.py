"""Errors that the command line reports as one line, and the policy for invalid input lines."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)


def first_line(error: BaseException) -> str:
    """The first line of an error's message (its type's name when it has none): what a one-line report quotes."""
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


class KearError(Exception):
    """An error caused by the user's input or settings: reported as one line, never as a traceback."""


class ConfigError(KearError):
    """A settings file or override that does not fit the settings schema."""


class DataError(KearError):
    """A bad line (or item) in an input file.

    Args:
        path: the file that holds the bad input.
        line: its 1-based line number, or a short locator such as ``"item 17"``; ``None`` when unknown.
        message: what is wrong, in a few words.
    """

    def __init__(self, path: str | Path, line: int | str | None, message: str) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class ErrorPolicy:
    """What to do with an invalid input line: stop (the default) or skip it and count it.

    Args:
        skip_invalid: skip and count invalid lines instead of stopping at the first one.
    """

    skip_invalid: bool = False
    skipped: int = 0
    examples: list[str] = field(default_factory=list)

    def handle(self, error: DataError) -> None:
        """Raise ``error``, or count it when invalid lines are skipped."""
        if not self.skip_invalid:
            raise error
        self.skipped += 1
        if len(self.examples) < 3:
            self.examples.append(str(error))

    def report(self, what: str) -> None:
        """Log how many invalid lines were skipped, with the first few of them."""
        if self.skipped:
            logger.warning("skipped %d invalid %s; first: %s", self.skipped, what, " | ".join(self.examples))
