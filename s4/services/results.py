"""What a service did: which subjects changed, which were refused and why."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Refusal:
    subject: str  # a document, hold, box or certificate id
    reason: str  # a sentence a person can act on


@dataclass
class Outcome:
    changed: list[str] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused

    def refuse(self, subject: str, reason: str) -> None:
        self.refused.append(Refusal(subject, reason))
