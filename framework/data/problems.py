"""One problem found in one sample, with the position the user needs to fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """A sample that is dropped (or, with ``strict``, stops the run).

    ``code`` is a stable kebab-case id counted in the data report (``empty-output``,
    ``duplicate``...). ``message`` says what is wrong and names the field; ``hint`` says what
    to do about it.
    """

    code: str
    message: str
    source: str
    line: int
    hint: str = ""

    @property
    def where(self) -> str:
        """``file:line`` of the sample."""
        return f"{self.source}:{self.line}"

    def text(self) -> str:
        """The one line printed for this problem."""
        line = f"{self.where}: {self.code}: {self.message}"
        return f"{line.rstrip('.')}. {self.hint}" if self.hint else line
