"""What a service did: what changed, what was refused and why, and anything worth saying."""

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
        return not self.refused
