"""What a service reports back: what changed, what was refused and why, and notes.

Every interface formats the same result: the command line as lines and an exit code, the
desk as a page. A refusal names its subject (a document, a hold) and a reason a person can
act on; nothing is changed for a refused subject.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Refusal:
    """One item a rule refused, with a reason a person can act on."""

    subject: str
    reason: str


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Nothing was refused."""
        return not self.refused

    def refuse(self, subject: str, reason: str) -> None:
        self.refused.append(Refusal(subject, reason))
