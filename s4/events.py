"""The audit trail: an append-only, hash-chained log of every transition and decision.

Each entry's hash covers its own content and the previous entry's hash, so changing,
removing, inserting or reordering any entry breaks every hash after it. The database
refuses UPDATE and DELETE on the table (see ``db.py``); the chain catches edits made by
someone who drops those triggers.

The chain cannot show that entries were removed from its *end*, so S4 also keeps the head
(``SEQ:HASH AT``) outside the database: ``audit/head`` beside the database, replaced
atomically after every commit that appended entries and never moved backwards, and
``audit/heads.log``, one line per head, only ever appended to. ``s4 audit verify`` compares
both with the log.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("s4.audit")

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


# --------------------------------------------------------------------------- the kept head

HEAD_FILE, HEADS_LOG, HEAD_LOCK = "head", "heads.log", "head.lock"
_HEAD_LINE = re.compile(r"\s*(\d+):([0-9a-f]{64})(?:\s+(\S+))?\s*")


@dataclass(frozen=True)
class KeptHead:
    seq: int
    hash: str
    at: str | None = None

    def line(self) -> str:
        return f"{self.seq}:{self.hash}" + (f" {self.at}" if self.at else "")


def audit_folder(database_path: str | os.PathLike) -> Path:
    """``audit/`` beside the database (the S4 home's own folder for the kept head)."""
    return Path(database_path).parent / "audit"


def parse_head_line(text: str) -> KeptHead | None:
    match = _HEAD_LINE.fullmatch(text)
    return KeptHead(int(match[1]), match[2], match[3]) if match else None


def read_head_file(folder: Path) -> KeptHead | None:
    """The head S4 last recorded; None when there is no head file. ValueError if garbled."""
    try:
        text = (folder / HEAD_FILE).read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    head = parse_head_line(text)
    if head is None:
        raise ValueError(f"{folder / HEAD_FILE} does not hold SEQ:HASH (it holds "
                         f"{text[:80]!r}): it was changed outside S4")
    return head


def read_heads_log(folder: Path) -> Iterator[tuple[int, KeptHead | None, str]]:
    """(line number, head or None when the line is garbled, the line) for heads.log."""
    try:
        stream = (folder / HEADS_LOG).open(encoding="utf-8")
    except FileNotFoundError:
        return
    with stream:
        for number, line in enumerate(stream, start=1):
            if line.strip():
                yield number, parse_head_line(line), line.rstrip("\n")


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def record_head(folder: Path, head: KeptHead) -> bool:
    """Make ``head`` the kept head unless the kept head is already at or past its seq.

    Several processes write events to one home (``s4 watch``, CLI commands), and their
    commits can reach this point in any order: an exclusive lock and the "only forwards"
    rule mean the head file always names the furthest committed entry. A head file that
    does not parse is left alone: it is evidence for ``s4 audit verify``.
    Returns True when the head file was moved.
    """
    folder.mkdir(exist_ok=True)
    with (folder / HEAD_LOCK).open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            current = read_head_file(folder)
        except ValueError as exc:
            log.warning("audit head not updated: %s", exc)
            return False
        if current is not None and current.seq >= head.seq:
            return False
        line = head.line() + "\n"
        temporary = folder / f".{HEAD_FILE}.{os.getpid()}.tmp"
        with temporary.open("w", encoding="utf-8") as out:
            out.write(line)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, folder / HEAD_FILE)
        with (folder / HEADS_LOG).open("a", encoding="utf-8") as history:
            history.write(line)
            history.flush()
            os.fsync(history.fileno())
        _fsync_folder(folder)
        return True
