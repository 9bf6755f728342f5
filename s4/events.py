"""The audit trail: an append-only, hash-chained log of every transition and decision.

Each entry's hash covers its own content and the previous entry's hash, so changing,
removing, inserting or reordering any entry breaks every hash after it. The database
refuses UPDATE and DELETE on the table (see ``db.py``); the chain catches edits made by
someone who drops those triggers.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """JSON with sorted keys and no whitespace: the same data always gives the same bytes."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def readable_details(details: str | Mapping[str, Any]) -> str:
    """``{"batch":"b1","size":10}`` -> ``batch=b1 size=10``: denser in a narrow column."""
    if isinstance(details, str):
        try:
            details = json.loads(details)
        except ValueError:
            return details
    if not isinstance(details, Mapping):
        return json.dumps(details, ensure_ascii=False)
    return " ".join(f"{key}={value if isinstance(value, str) else json.dumps(value)}"
                    for key, value in details.items())


def entry_hash(
    prev_hash: str, seq: int, at: str, actor: str, action: str, subject: str, details: str
) -> str:
    """SHA-256 over the previous hash and this entry's fields (details as stored, canonical)."""
    body = canonical_json(
        {"seq": seq, "at": at, "actor": actor, "action": action, "subject": subject,
         "details": details, "prev": prev_hash}
    )
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainProblem:
    seq: int
    problem: str


def verify_chain(rows: Iterable[Mapping[str, Any]]) -> ChainProblem | None:
    """Recompute the chain over rows in sequence order; return the first bad entry, if any."""
    expected_prev = GENESIS_HASH
    expected_seq = 1
    for row in rows:
        seq = row["seq"]
        if seq != expected_seq:
            what = "missing" if seq > expected_seq else "duplicated or out of order"
            return ChainProblem(expected_seq, f"entry {expected_seq} is {what} (found {seq})")
        if row["prev_hash"] != expected_prev:
            return ChainProblem(seq, "prev_hash does not match the previous entry's hash")
        recomputed = entry_hash(
            row["prev_hash"], seq, row["at"], row["actor"], row["action"], row["subject"],
            row["details"],
        )
        if recomputed != row["hash"]:
            return ChainProblem(seq, "content does not match its hash (entry was edited)")
        expected_prev = row["hash"]
        expected_seq += 1
    return None
