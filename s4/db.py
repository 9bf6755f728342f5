"""All of S4's SQL. Stages call the named functions here; nothing else writes SQL.

One SQLite database (WAL mode) per S4 home. Only the pipeline's main process writes;
OCR workers never touch the database. Every state change is written together with its
audit event in one transaction, so the trail can never disagree with the state.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import re
import sqlite3
import unicodedata
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlite_utils

from s4.events import (
    GENESIS_HASH,
    KeptHead,
    audit_folder,
    canonical_json,
    entry_hash,
    record_head,
)
from s4.events import log as audit_logger
from s4.states import (  # noqa: F401  (re-exported as store_db.RECEIVED, …)
    DUPLICATE,
    FILED,
    NEEDS_REVIEW,
    NOT_A_RECORD,
    OCR,
    OCR_DONE_STATES,
    PROCESSED,
    QUARANTINED,
    RECEIVED,
    SPLIT,
    STORED,
    SUPERSEDED,
    UNFINISHED_STATES,
    check_document_move,
    check_paper_move,
)

SCHEMA_VERSION = 1
# Document states are named, with their allowed moves, in s4.states (imported above).


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    box TEXT,
    source TEXT NOT NULL,
    created_at TEXT NOT NULL,
    actor TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS documents (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    batch_id TEXT NOT NULL REFERENCES batches(id),
    box TEXT,
    position INTEGER,
    source_name TEXT NOT NULL,
    source_path TEXT NOT NULL,
    source_size INTEGER NOT NULL,
    source_mtime REAL NOT NULL,
    sha256 TEXT NOT NULL,
    media_type TEXT,
    pipeline TEXT NOT NULL,
    state TEXT NOT NULL,
    quarantine_reason TEXT,
    quarantine_path TEXT,
    duplicate_of TEXT,
    work_dir TEXT,
    original_path TEXT,
    output_pdf TEXT,
    pdfa INTEGER,
    text_path TEXT,
    pages INTEGER,
    ocr_conf_mean REAL,
    ocr_conf_min REAL,
    flagged_pages TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    inbox_cleared INTEGER NOT NULL DEFAULT 1,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS documents_sha256 ON documents(sha256);
CREATE INDEX IF NOT EXISTS documents_state ON documents(state);
CREATE INDEX IF NOT EXISTS documents_batch ON documents(batch_id);

CREATE TABLE IF NOT EXISTS pages (
    doc_id TEXT NOT NULL REFERENCES documents(id),
    page_no INTEGER NOT NULL,
    confidence REAL,
    words INTEGER NOT NULL DEFAULT 0,
    rotation INTEGER NOT NULL DEFAULT 0,
    ocr_skipped INTEGER NOT NULL DEFAULT 0,
    flagged INTEGER NOT NULL DEFAULT 0,
    text TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (doc_id, page_no)
);

CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    subject TEXT NOT NULL,
    details TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS events_subject ON events(subject);

CREATE TRIGGER IF NOT EXISTS events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only: DELETE refused'); END;
"""


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def default_actor() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def doc_label(seq: int) -> str:
    return f"D{seq:06d}"


def normalise_doc_id(text: str) -> str:
    """Accept ``D000012``, ``d12`` or ``12`` and return the canonical ``D000012``."""
    digits = text.strip().upper().removeprefix("D")
    if not digits.isdigit():
        raise ValueError(f"{text!r} is not a document id (expected e.g. D000012)")
    return doc_label(int(digits))


def connect(path: Path, read_only: bool = False) -> sqlite_utils.Database:
    """Open the home's database; ``read_only`` for a home S4 may not write (see
    :func:`_connect_read_only`)."""
    if read_only:
        return _connect_read_only(path)
    conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    db = sqlite_utils.Database(conn)
    return db


# --------------------------------------------------------------------------- read-only homes
# A WAL database can be read without write access (SQLite >= 3.22) when its -wal and -shm
# files exist and are readable (the wal-index is then built in private memory), or when the
# folder is writable so SQLite can create them. In a read-only folder with no -wal file
# (the last writer closed cleanly) ``mode=ro`` fails with SQLITE_READONLY_DIRECTORY; the
# database file then holds everything, and ``immutable=1`` reads it without any locking.
# immutable is used only in that case: with a -wal present it would silently ignore the
# transactions still in it, and it is safe only while nothing writes the file meanwhile.


def _uri(path: Path, query: str) -> str:
    return f"file:{quote(str(Path(path).resolve()))}?{query}"


def _connect_read_only(path: Path) -> sqlite_utils.Database:
    if not Path(path).is_file():  # mode=ro never creates; say so plainly
        raise sqlite3.OperationalError(f"unable to open database file {path}")
    wal = Path(f"{path}-wal")
    has_wal = wal.exists() and wal.stat().st_size > 0
    conn = sqlite3.connect(_uri(path, "mode=ro"), uri=True, timeout=30, isolation_level=None,
                           check_same_thread=False)
    try:
        conn.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.OperationalError as exc:
        conn.close()
        if has_wal or getattr(exc, "sqlite_errorname", "") not in (
                "SQLITE_READONLY_DIRECTORY", "SQLITE_CANTOPEN", "SQLITE_READONLY_CANTINIT"):
            raise
        conn = sqlite3.connect(_uri(path, "immutable=1"), uri=True, isolation_level=None,
                               check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA query_only=ON")  # belt and braces: this connection never writes
    conn.execute("PRAGMA busy_timeout=30000")
    return sqlite_utils.Database(conn)


def is_read_only(db: sqlite_utils.Database) -> bool:
    return bool(db.conn.execute("PRAGMA query_only").fetchone()[0])


def unwritable_parts(path: Path) -> list[str]:
    """What stops S4 writing the database at ``path``: the read-only file system, or the
    database, its -wal/-shm files or its folder not writable by this user. Empty: writable."""
    folder = Path(path).parent
    try:
        if os.statvfs(folder).f_flag & os.ST_RDONLY:
            return [f"the file system holding {folder} (mounted read-only)"]
    except OSError:
        pass
    parts = [str(candidate) for candidate in (Path(path), Path(f"{path}-wal"),
                                              Path(f"{path}-shm"))
             if candidate.exists() and not os.access(candidate, os.W_OK)]
    if folder.exists() and not os.access(folder, os.W_OK | os.X_OK):
        parts.append(f"the folder {folder}")
    return parts


def schema_gaps(db: sqlite_utils.Database) -> list[str]:
    """Tables or columns :func:`migrate` would add (a read-only home cannot be migrated)."""
    tables = {row["name"] for row in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table'")}
    wanted = re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", _SCHEMA + "".join(EXTRA_SCHEMA))
    gaps = [name for name in wanted if name not in tables]
    for table, columns in (("documents", DOCUMENT_COLUMNS),
                           ("destructions", DESTRUCTION_COLUMNS)):
        if table in tables:
            existing = {row["name"] for row in db.conn.execute(f"PRAGMA table_info({table})")}
            gaps += [f"{table}.{name}" for name in columns if name not in existing]
    return gaps


def recorded_home_root(db: sqlite_utils.Database) -> str | None:
    """The home this database belongs to, without recording it (for read-only opening)."""
    row = db.conn.execute("SELECT value FROM meta WHERE key = 'home_root'").fetchone()
    return row["value"] if row else None


# Columns later stages add to ``documents`` (name -> SQL type). Added idempotently, so an
# existing home gains them on the next start. Field names are part of the export interface.
DOCUMENT_COLUMNS: dict[str, str] = {
    # classify / retain (issue: classification and retention)
    "record_class": "TEXT", "class_confidence": "REAL", "decided_by": "TEXT",
    "document_date": "TEXT", "refs": "TEXT", "retention_trigger": "TEXT",
    "trigger_date": "TEXT", "disposal_due": "TEXT", "disposal_action": "TEXT",
    "rule_id": "TEXT", "schedule_version": "TEXT",
    "proposed_class": "TEXT", "classification": "TEXT",
    # paper (issue: disposal by the box)
    "paper_status": "TEXT", "qa_status": "TEXT", "certificate_id": "TEXT",
    "qa_at": "TEXT",  # when a person passed/failed QA: the paper quarantine counts from then too
    # re-scans: the new record names the one it replaces, and the old one its successor
    "replaces": "TEXT", "superseded_by": "TEXT",
    "lineage": "TEXT",  # JSON list of every earlier scan of the same paper, oldest first
    # store (issue: SharePoint / local store)
    "store_backend": "TEXT", "store_location": "TEXT", "store_item_id": "TEXT",
    "stored_at": "TEXT", "verified_at": "TEXT", "verify_method": "TEXT",
    "last_verified_at": "TEXT",  # the latest passing fixity check (verified_at: the first)
    "store_meta_stale": "INTEGER",  # 1: a decision changed after storing; fields need a refresh
    # ingest: the file name's bytes as hex, only when they are not valid UTF-8 (source_name
    # then shows the bad bytes escaped, e.g. b\\xff.pdf); otherwise source_name is exact
    "source_name_raw": "TEXT",
    # capture (issue 13): chain of custody of a record made from part of a scanner's file.
    # source_file/source_sha256: the file as received (for a record of a whole file they
    # are its own source_name/sha256); scan_pages: the scan pages it holds ("3-5,7");
    # dropped_pages: JSON [{page, reason}] of scan pages left out of it (sheets, blank
    # backs); stack_id: the split stack record it came from; capture_warning: e.g. no
    # separator sheet found.
    "stack_id": "TEXT", "source_file": "TEXT", "source_sha256": "TEXT",
    "scan_pages": "TEXT", "dropped_pages": "TEXT", "capture_warning": "TEXT",
}
# Columns added to ``pages``. flags: JSON list of {"check", "reason"}, one per check the page
# failed (low confidence, resolution, ...); ``flagged`` stays 1 when the list is not empty.
# ocr_attempts: JSON {"attempts": [{attempt, confidence, words, dictionary_hits, score}],
# "kept": attempt} for pages read twice (first reading poor); NULL when read once.
PAGE_COLUMNS: dict[str, str] = {"flags": "TEXT", "ocr_attempts": "TEXT"}
DESTRUCTION_COLUMNS: dict[str, str] = {
    # the sealed certificate itself, so a crash before its files were written can be finished
    "certificate_json": "TEXT",
}
_ANCHORS_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_anchors (
    id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    hash TEXT NOT NULL,
    token BLOB NOT NULL,
    tsa_url TEXT NOT NULL,
    tsa_time TEXT NOT NULL,
    anchored_at TEXT NOT NULL,
    actor TEXT NOT NULL
);
"""
EXTRA_SCHEMA: list[str] = [  # CREATE TABLE IF NOT EXISTS … blocks added by later stages
    _ANCHORS_SCHEMA,
    """
    CREATE TABLE IF NOT EXISTS destructions (
        id TEXT PRIMARY KEY,
        boxes TEXT NOT NULL,
        destroyed_at TEXT NOT NULL,
        operator TEXT NOT NULL,
        witness TEXT NOT NULL,
        method TEXT NOT NULL,
        contractor TEXT,
        contractor_cert TEXT,
        documents INTEGER NOT NULL,
        pages INTEGER NOT NULL,
        body_sha256 TEXT NOT NULL,
        seal_seq INTEGER NOT NULL,
        seal_hash TEXT NOT NULL,
        json_path TEXT,
        json_sha256 TEXT,
        pdf_path TEXT,
        pdf_sha256 TEXT,
        json_doc TEXT,
        pdf_doc TEXT
    );
    """,
    """
    CREATE TABLE IF NOT EXISTS models (
        id INTEGER PRIMARY KEY,
        path TEXT NOT NULL,
        sha256 TEXT NOT NULL,
        trained_at TEXT NOT NULL,
        trained_by TEXT NOT NULL,
        samples INTEGER NOT NULL,
        classes TEXT NOT NULL
    );
    """,
    # accounts and web sessions (the desk, ``s4 serve``)
    """
    CREATE TABLE IF NOT EXISTS users (
        name TEXT PRIMARY KEY,
        roles TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        disabled INTEGER NOT NULL DEFAULT 0,
        failed_attempts INTEGER NOT NULL DEFAULT 0,
        locked_until TEXT,
        last_sign_in TEXT,
        created_at TEXT NOT NULL
    );
    CREATE TABLE IF NOT EXISTS web_sessions (
        token_sha256 TEXT PRIMARY KEY,
        user_name TEXT NOT NULL REFERENCES users(name),
        csrf_token TEXT NOT NULL,
        created_at TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    CREATE INDEX IF NOT EXISTS web_sessions_user ON web_sessions(user_name);
    """,
]


_AUDIT_TRIGGERS = ("events_no_update", "events_no_delete")


def migrate(db: sqlite_utils.Database) -> None:
    """Create what is missing. Every statement is idempotent (IF NOT EXISTS).

    If the events table exists but its append-only triggers are gone, someone dropped them:
    they are put back, and that is itself written to the audit log, so restoring them never
    hides that they had been removed.
    """
    had_events = db.conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'events'").fetchone()
    present = {row["name"] for row in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE type = 'trigger'")}
    missing = [name for name in _AUDIT_TRIGGERS if name not in present] if had_events else []
    db.conn.executescript(_SCHEMA)
    if missing:
        with transaction(db):
            append_event(db, "s4", "audit.triggers_restored", "home",
                         {"missing": missing, "note": "the append-only triggers had been "
                          "removed from the database; run `s4 audit verify`"})
    for script in EXTRA_SCHEMA:
        db.conn.executescript(script)
    for table, columns in (("documents", DOCUMENT_COLUMNS), ("pages", PAGE_COLUMNS),
                           ("destructions", DESTRUCTION_COLUMNS)):
        existing = {row["name"] for row in db.conn.execute(f"PRAGMA table_info({table})")}
        for name, sql_type in columns.items():
            if name not in existing:
                db.conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
    migrate_batch_columns(db)
    build_search_index(db)  # after the columns above: its triggers read them
    db.conn.execute(
        "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
        (str(SCHEMA_VERSION),),
    )


def home_root_of(db: sqlite_utils.Database, root: str) -> str:
    """The home this database belongs to (recorded by its first opener)."""
    with transaction(db) as conn:
        conn.execute("INSERT OR IGNORE INTO meta (key, value) VALUES ('home_root', ?)", (root,))
    return db.conn.execute("SELECT value FROM meta WHERE key = 'home_root'").fetchone()["value"]


@contextmanager
def transaction(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """BEGIN IMMEDIATE … COMMIT: one writer at a time, all-or-nothing."""
    conn = db.conn
    if conn.in_transaction:  # nested use joins the outer transaction
        yield conn
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        db.__dict__.pop("_s4_new_head", None)
        raise
    conn.execute("COMMIT")
    _keep_head(db)


def _keep_head(db: sqlite_utils.Database) -> None:
    """After a commit that appended audit entries, record the new head outside the database
    (``events.record_head``). The commit has happened: a failure here is logged, not raised,
    and ``s4 audit verify`` then sees the database ahead of the head file, which is fine."""
    head = db.__dict__.pop("_s4_new_head", None)
    if head is None:
        return
    path = audit_database_path(db)
    if path is None:  # an in-memory database has no home
        return
    try:
        record_head(audit_folder(path), head)
    except OSError as exc:
        audit_logger.warning("could not record the audit head %s:%s outside the database: "
                             "%s", head.seq, head.hash, exc.strerror or exc)


def _row(row: sqlite3.Row | None) -> dict[str, Any] | None:
    return dict(row) if row is not None else None


# --------------------------------------------------------------------------- events


def append_event(
    db: sqlite_utils.Database, actor: str, action: str, subject: str, details: dict | None = None
) -> dict[str, Any]:
    """Append one audit entry, chained to the last. Call inside a transaction."""
    conn = db.conn
    last = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    seq = (last["seq"] + 1) if last else 1
    prev_hash = last["hash"] if last else GENESIS_HASH
    at = now()
    details_text = canonical_json(details or {})
    digest = entry_hash(prev_hash, seq, at, actor, action, subject, details_text)
    conn.execute(
        "INSERT INTO events (seq, at, actor, action, subject, details, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (seq, at, actor, action, subject, details_text, prev_hash, digest),
    )
    db.__dict__["_s4_new_head"] = KeptHead(seq, digest, at)
    if not conn.in_transaction:  # autocommitted: no transaction() will record the head
        _keep_head(db)
    return {"seq": seq, "hash": digest}


def iter_events(db: sqlite_utils.Database) -> Iterator[dict[str, Any]]:
    for row in db.conn.execute("SELECT * FROM events ORDER BY rowid"):
        yield dict(row)


def events_for(db: sqlite_utils.Database, subject: str) -> list[dict[str, Any]]:
    rows = db.conn.execute(
        "SELECT * FROM events WHERE subject = ? ORDER BY seq", (subject,)
    ).fetchall()
    return [dict(row) | {"details": json.loads(row["details"])} for row in rows]


# --------------------------------------------------------------------------- batches


def ensure_batch(
    db: sqlite_utils.Database, batch_id: str, pipeline: str, box: str | None, source: str,
    actor: str,
) -> dict[str, Any]:
    with transaction(db) as conn:
        existing = conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone()
        if existing:
            return dict(existing)
        conn.execute(
            "INSERT INTO batches (id, pipeline, box, source, created_at, actor)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (batch_id, pipeline, box, source, now(), actor),
        )
        append_event(db, actor, "batch.opened", f"batch:{batch_id}",
                     {"pipeline": pipeline, "box": box, "source": source})
        return dict(conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone())


def get_batch(db: sqlite_utils.Database, batch_id: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM batches WHERE id = ?", (batch_id,)).fetchone())


# --------------------------------------------------------------------------- documents


def next_doc_id(db: sqlite_utils.Database) -> str:
    row = db.conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM documents").fetchone()
    return doc_label(row["n"])


def next_position(db: sqlite_utils.Database, batch_id: str) -> int:
    row = db.conn.execute(
        "SELECT COALESCE(MAX(position), 0) + 1 AS n FROM documents WHERE batch_id = ?",
        (batch_id,),
    ).fetchone()
    return row["n"]


def insert_document(db: sqlite_utils.Database, actor: str, fields: dict[str, Any]) -> str:
    """Register a claimed file (state received or duplicate) and its event. In a transaction."""
    doc_id = fields["id"]
    stamp = now()
    record = {"created_at": stamp, "updated_at": stamp, **fields}
    columns = ", ".join(record)
    marks = ", ".join("?" for _ in record)
    db.conn.execute(f"INSERT INTO documents ({columns}) VALUES ({marks})", tuple(record.values()))
    details = {
        "batch": record["batch_id"], "source_name": record["source_name"],
        "sha256": record["sha256"], "size": record["source_size"],
        "state": record["state"],
    }
    for link in ("duplicate_of", "replaces", "source_name_raw", "stack_id", "scan_pages"):
        if record.get(link):
            details[link] = record[link]
    action = "document.duplicate" if record["state"] == DUPLICATE else "document.received"
    append_event(db, actor, action, doc_id, details)
    return doc_id


def get_document(db: sqlite_utils.Database, doc_id: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM documents WHERE id = ?", (doc_id,)).fetchone())


def find_original_by_sha256(db: sqlite_utils.Database, sha256: str) -> dict[str, Any] | None:
    """The record that owns this content (duplicates point at it)."""
    return _row(db.conn.execute(
        "SELECT * FROM documents WHERE sha256 = ? AND state != ? ORDER BY seq LIMIT 1",
        (sha256, DUPLICATE),
    ).fetchone())


def find_uncleared_claim(
    db: sqlite_utils.Database, source_path: str, sha256: str
) -> dict[str, Any] | None:
    """A claim committed before a crash whose inbox file was not yet removed."""
    return _row(db.conn.execute(
        "SELECT * FROM documents WHERE source_path = ? AND sha256 = ? AND inbox_cleared = 0"
        " ORDER BY seq DESC LIMIT 1",
        (source_path, sha256),
    ).fetchone())


def mark_inbox_cleared(db: sqlite_utils.Database, doc_id: str) -> None:
    with transaction(db) as conn:
        conn.execute("UPDATE documents SET inbox_cleared = 1, updated_at = ? WHERE id = ?",
                     (now(), doc_id))


def documents_in_states(
    db: sqlite_utils.Database, states: tuple[str, ...], batch_id: str | None = None
) -> list[dict[str, Any]]:
    marks = ", ".join("?" for _ in states)
    sql = f"SELECT * FROM documents WHERE state IN ({marks})"
    params: list[Any] = list(states)
    if batch_id:
        sql += " AND batch_id = ?"
        params.append(batch_id)
    return [dict(r) for r in db.conn.execute(sql + " ORDER BY seq", params)]


def documents(db: sqlite_utils.Database, batch_id: str | None = None) -> list[dict[str, Any]]:
    if batch_id:
        rows = db.conn.execute("SELECT * FROM documents WHERE batch_id = ? ORDER BY seq",
                               (batch_id,))
    else:
        rows = db.conn.execute("SELECT * FROM documents ORDER BY seq")
    return [dict(r) for r in rows]


def known_work_dirs(db: sqlite_utils.Database) -> set[str]:
    rows = db.conn.execute("SELECT work_dir FROM documents WHERE work_dir IS NOT NULL")
    return {row["work_dir"] for row in rows}


def update_document(
    db: sqlite_utils.Database, doc_id: str, actor: str, action: str,
    details: dict[str, Any] | None = None, **fields: Any,
) -> None:
    """Change a document's columns and log why, in one transaction."""
    with transaction(db) as conn:
        if "state" in fields or "paper_status" in fields:
            row = conn.execute("SELECT state, paper_status FROM documents WHERE id = ?",
                               (doc_id,)).fetchone()
            if row is None:
                raise KeyError(f"no document {doc_id}")
            if "state" in fields:
                check_document_move(doc_id, row["state"], fields["state"])
            if "paper_status" in fields:
                check_paper_move(doc_id, row["paper_status"], fields["paper_status"])
        fields["updated_at"] = now()
        assignments = ", ".join(f"{name} = ?" for name in fields)
        cursor = conn.execute(f"UPDATE documents SET {assignments} WHERE id = ?",
                              (*fields.values(), doc_id))
        if cursor.rowcount != 1:
            raise KeyError(f"no document {doc_id}")
        append_event(db, actor, action, doc_id, details or {})


def record_ocr_result(
    db: sqlite_utils.Database, doc_id: str, actor: str, pages: list[dict[str, Any]],
    fields: dict[str, Any], details: dict[str, Any],
) -> None:
    """Store per-page results and the document's new state together."""
    with transaction(db) as conn:
        conn.execute("DELETE FROM pages WHERE doc_id = ?", (doc_id,))
        conn.executemany(
            "INSERT INTO pages (doc_id, page_no, confidence, words, rotation, ocr_skipped,"
            " flagged, flags, ocr_attempts, text) VALUES (:doc_id, :page_no, :confidence,"
            " :words, :rotation, :ocr_skipped, :flagged, :flags, :ocr_attempts, :text)",
            [{"doc_id": doc_id, **page, "flags": json.dumps(page.get("flags") or []),
              "ocr_attempts": json.dumps(page["ocr_attempts"])
              if page.get("ocr_attempts") else None}
             for page in pages],
        )
        update_document(db, doc_id, actor, "document.ocr_completed", details, **fields)


def pages_of(db: sqlite_utils.Database, doc_id: str) -> list[dict[str, Any]]:
    """A document's pages; ``flags`` decoded to a list (empty for pages stored before it)."""
    rows = db.conn.execute("SELECT * FROM pages WHERE doc_id = ? ORDER BY page_no", (doc_id,))
    return [{**dict(r), "flags": json.loads(r["flags"] or "[]"),
             "ocr_attempts": json.loads(r["ocr_attempts"]) if r["ocr_attempts"] else None}
            for r in rows]


# ---- page OCR attempts (pages read a second time because the first reading was poor)


def describe_attempts(record: dict[str, Any]) -> str:
    """``"cleaned kept (first 117.4, cleaned 136.6)"``: each reading's score, which was kept."""
    scores = ", ".join(f"{a['attempt']} {a['score']:g}" for a in record["attempts"])
    return f"{record['kept']} kept ({scores})"


def page_attempts_text(db: sqlite_utils.Database, doc_id: str) -> str:
    """``"2: cleaned kept (first 117.4, cleaned 136.6); 3: …"``: every page read twice."""
    rows = db.conn.execute(
        "SELECT page_no, ocr_attempts FROM pages WHERE doc_id = ? AND ocr_attempts IS NOT NULL"
        " ORDER BY page_no", (doc_id,)).fetchall()
    return "; ".join(f"{row['page_no']}: {describe_attempts(json.loads(row['ocr_attempts']))}"
                     for row in rows)


# ---- page flags (reasons a page needs a person's check)


def page_flags_text(db: sqlite_utils.Database, doc_id: str) -> str:
    """``"2: resolution: 72 dpi, …; 3: low_confidence: …"``: every flag with its reason."""
    rows = db.conn.execute(
        "SELECT page_no, flagged, flags FROM pages WHERE doc_id = ? AND flagged = 1"
        " ORDER BY page_no", (doc_id,)).fetchall()
    parts = []
    for row in rows:
        flags = json.loads(row["flags"] or "[]")
        if not flags:  # flagged before reasons were recorded
            parts.append(f"{row['page_no']}: low_confidence")
        parts.extend(f"{row['page_no']}: {flag['check']}: {flag['reason']}" for flag in flags)
    return "; ".join(parts)


def batch_counts(db: sqlite_utils.Database, batch_id: str | None = None) -> list[dict[str, Any]]:
    """Per batch: documents, pages and a count per state."""
    sql = (
        "SELECT b.id AS batch, b.pipeline, b.box, b.created_at, d.state, COUNT(d.id) AS n,"
        " COALESCE(SUM(d.pages), 0) AS pages FROM batches b"
        " LEFT JOIN documents d ON d.batch_id = b.id"
    )
    params: tuple = ()
    if batch_id:
        sql += " WHERE b.id = ?"
        params = (batch_id,)
    sql += " GROUP BY b.id, d.state ORDER BY b.created_at, b.id"
    return [dict(r) for r in db.conn.execute(sql, params)]


def export_rows(
    db: sqlite_utils.Database, batch_id: str | None = None, with_text: bool = False
) -> Iterator[dict[str, Any]]:
    sql = "SELECT * FROM documents"
    params: tuple = ()
    if batch_id:
        sql += " WHERE batch_id = ?"
        params = (batch_id,)
    for row in db.conn.execute(sql + " ORDER BY seq", params).fetchall():
        record = dict(row)
        if with_text:
            texts = db.conn.execute(
                "SELECT text FROM pages WHERE doc_id = ? ORDER BY page_no", (record["id"],)
            ).fetchall()
            record["text"] = "\f".join(t["text"] for t in texts)
        record["page_flags"] = page_flags_text(db, record["id"])
        record["ocr_attempts"] = page_attempts_text(db, record["id"])
        yield record


def event_count(db: sqlite_utils.Database) -> int:
    return db.conn.execute("SELECT COUNT(*) AS n FROM events").fetchone()["n"]


# ---- classify and review


def document_text(db: sqlite_utils.Database, doc_id: str) -> str:
    rows = db.conn.execute("SELECT text FROM pages WHERE doc_id = ? ORDER BY page_no", (doc_id,))
    return "\f".join(row["text"] for row in rows)


def record_model(db: sqlite_utils.Database, path: str, sha256: str, actor: str, samples: int,
                 classes: list[str]) -> int:
    with transaction(db) as conn:
        cursor = conn.execute(
            "INSERT INTO models (path, sha256, trained_at, trained_by, samples, classes)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (path, sha256, now(), actor, samples, json.dumps(classes)),
        )
        append_event(db, actor, "model.trained", f"model:{cursor.lastrowid}",
                     {"sha256": sha256, "samples": samples, "classes": classes})
        return cursor.lastrowid


def latest_model(db: sqlite_utils.Database) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM models ORDER BY id DESC LIMIT 1").fetchone())


def confirmed_examples(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Documents whose class a person decided or confirmed: the model's training data."""
    rows = db.conn.execute(
        "SELECT id, record_class FROM documents WHERE decided_by = 'person'"
        " AND record_class IS NOT NULL ORDER BY seq"
    ).fetchall()
    return [{"id": r["id"], "record_class": r["record_class"],
             "text": document_text(db, r["id"])} for r in rows]


def review_queue(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return documents_in_states(db, (NEEDS_REVIEW,))


# ---- paper and disposal certificates


def documents_in_boxes(db: sqlite_utils.Database, boxes: list[str]) -> list[dict[str, Any]]:
    """The paper records in these boxes (a split stack is not one: its documents are)."""
    marks = ", ".join("?" for _ in boxes)
    rows = db.conn.execute(
        f"SELECT * FROM documents WHERE box IN ({marks}) AND state != ?"
        " ORDER BY box, position, seq", (*boxes, SPLIT))
    return [dict(r) for r in rows]


def known_boxes(db: sqlite_utils.Database) -> list[str]:
    rows = db.conn.execute(
        "SELECT box FROM documents WHERE box IS NOT NULL AND state != ? GROUP BY box"
        " ORDER BY MIN(seq)", (SPLIT,))
    return [r["box"] for r in rows]


def next_certificate_id(db: sqlite_utils.Database, year: int) -> str:
    row = db.conn.execute("SELECT COUNT(*) AS n FROM destructions WHERE id LIKE ?",
                          (f"CERT-{year}-%",)).fetchone()
    return f"CERT-{year}-{row['n'] + 1:04d}"


def insert_destruction(db: sqlite_utils.Database, record: dict[str, Any]) -> None:
    columns = ", ".join(record)
    marks = ", ".join("?" for _ in record)
    db.conn.execute(f"INSERT INTO destructions ({columns}) VALUES ({marks})",
                    tuple(record.values()))


def update_destruction(db: sqlite_utils.Database, certificate_id: str, **fields: Any) -> None:
    assignments = ", ".join(f"{name} = ?" for name in fields)
    db.conn.execute(f"UPDATE destructions SET {assignments} WHERE id = ?",
                    (*fields.values(), certificate_id))


def unissued_destructions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Sealed destructions whose certificate files were never written (a crash between)."""
    return [dict(r) for r in db.conn.execute(
        "SELECT * FROM destructions WHERE json_path IS NULL AND certificate_json IS NOT NULL"
        " ORDER BY seal_seq")]


def destructions(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [dict(r) for r in db.conn.execute("SELECT * FROM destructions ORDER BY id")]


def get_destruction(db: sqlite_utils.Database, certificate_id: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM destructions WHERE id = ?",
                                (certificate_id,)).fetchone())


def get_event(db: sqlite_utils.Database, seq: int) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM events WHERE seq = ?", (seq,)).fetchone())


def events_with_action(db: sqlite_utils.Database, action: str,
                       subject: str | None = None) -> list[dict[str, Any]]:
    if subject is None:
        rows = db.conn.execute("SELECT * FROM events WHERE action = ? ORDER BY seq", (action,))
    else:
        rows = db.conn.execute(
            "SELECT * FROM events WHERE action = ? AND subject = ? ORDER BY seq",
            (action, subject))
    return [dict(r) for r in rows]


# ---- store
# The store stage's journal: one row per record on its way to the store, so an upload
# interrupted at any point (crash, kill -9, network) resumes without a second copy. Upload
# session URLs carry a temporary credential, so only a redacted form is kept here.

EXTRA_SCHEMA.append("""
CREATE TABLE IF NOT EXISTS store_journal (
    doc_id TEXT PRIMARY KEY REFERENCES documents(id),
    backend TEXT NOT NULL,
    state TEXT NOT NULL,          -- pending|uploading|committed|fields_set|verified|conflict
    target TEXT,                  -- path inside the store (folders/name)
    size INTEGER,
    sha256 TEXT,                  -- of the stored file (the PDF/A), not of the scan
    quickxor TEXT,
    session TEXT,                 -- upload session, redacted (no tempauth)
    offset INTEGER NOT NULL DEFAULT 0,
    item_id TEXT,
    location TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    updated_at TEXT NOT NULL
);
""")
DOCUMENT_COLUMNS["stored_sha256"] = "TEXT"  # SHA-256 of the stored PDF/A

STORE_JOURNAL_FIELDS = ("backend", "state", "target", "size", "sha256", "quickxor", "session",
                        "offset", "item_id", "location", "attempts", "last_error")


def store_journal_get(db: sqlite_utils.Database, doc_id: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM store_journal WHERE doc_id = ?",
                                (doc_id,)).fetchone())


def store_journal_set(db: sqlite_utils.Database, doc_id: str, **fields: Any) -> None:
    """Create or update a record's journal row (only the fields given change)."""
    unknown = set(fields) - set(STORE_JOURNAL_FIELDS)
    if unknown:
        raise KeyError(f"not a store_journal field: {', '.join(sorted(unknown))}")
    with transaction(db) as conn:
        exists = conn.execute("SELECT 1 FROM store_journal WHERE doc_id = ?",
                              (doc_id,)).fetchone()
        fields["updated_at"] = now()
        if exists:
            assignments = ", ".join(f"{name} = ?" for name in fields)
            conn.execute(f"UPDATE store_journal SET {assignments} WHERE doc_id = ?",
                         (*fields.values(), doc_id))
        else:
            fields.setdefault("state", "pending")
            fields.setdefault("backend", "unknown")
            columns = ", ".join(["doc_id", *fields])
            marks = ", ".join("?" for _ in range(len(fields) + 1))
            conn.execute(f"INSERT INTO store_journal ({columns}) VALUES ({marks})",
                         (doc_id, *fields.values()))


def store_pending(db: sqlite_utils.Database, limit: int | None = None) -> list[dict[str, Any]]:
    """Records waiting for the store (state ``filed``), oldest first."""
    sql = "SELECT * FROM documents WHERE state = ? ORDER BY seq"
    params: tuple = (FILED,)
    if limit:
        sql += " LIMIT ?"
        params = (FILED, limit)
    return [dict(r) for r in db.conn.execute(sql, params)]


def store_stale_metadata(db: sqlite_utils.Database, backend: str) -> list[dict[str, Any]]:
    """Records stored in ``backend`` whose class or retention changed since their fields were
    written (a record stored elsewhere is refreshed by that store's own sync)."""
    return [dict(r) for r in db.conn.execute(
        "SELECT d.*, j.size AS stored_size, j.quickxor AS stored_quickxor FROM documents d"
        " LEFT JOIN store_journal j ON j.doc_id = d.id"
        " WHERE d.state IN (?, ?) AND d.store_meta_stale = 1 AND d.stored_at IS NOT NULL"
        " AND d.store_backend = ? ORDER BY d.seq", (STORED, SUPERSEDED, backend))]


def store_pending_count(db: sqlite_utils.Database) -> int:
    return db.conn.execute("SELECT COUNT(*) AS n FROM documents WHERE state = ?",
                           (FILED,)).fetchone()["n"]


def store_mark_stored(
    db: sqlite_utils.Database, doc_id: str, actor: str, *, backend: str, location: str,
    item_id: str, sha256: str, verify_method: str, details: dict[str, Any],
) -> None:
    """The record is in the store and verified: state ``stored``, journal ``verified``."""
    with transaction(db):
        stamp = now()
        update_document(
            db, doc_id, actor, "document.stored",
            {"backend": backend, "location": location, "item_id": item_id, "sha256": sha256,
             "verify_method": verify_method, **details},
            state=STORED, store_backend=backend, store_location=location,
            store_item_id=item_id, stored_sha256=sha256, stored_at=stamp, verified_at=stamp,
            last_verified_at=stamp,
            verify_method=verify_method,
        )
        store_journal_set(db, doc_id, state="verified", item_id=item_id, location=location,
                          session=None, last_error=None)


def store_mark_conflict(
    db: sqlite_utils.Database, doc_id: str, actor: str, reason: str, details: dict[str, Any],
) -> None:
    """Another file already has this record's name: quarantine, never overwrite. The PDF/A
    stays where it is (``output_pdf``), ready for ``s4 store sync --retry-conflicts``."""
    with transaction(db):
        update_document(db, doc_id, actor, "document.store_conflict",
                        {"reason": reason, **details},
                        state=QUARANTINED, quarantine_reason=reason)
        store_journal_set(db, doc_id, state="conflict", last_error=reason, session=None,
                          **({"backend": details["backend"]} if details.get("backend") else {}))


def store_note_failure(db: sqlite_utils.Database, doc_id: str, error: str) -> None:
    """A transient failure: the record stays ``filed``; the journal remembers why."""
    with transaction(db) as conn:
        row = conn.execute("SELECT attempts FROM store_journal WHERE doc_id = ?",
                           (doc_id,)).fetchone()
        store_journal_set(db, doc_id, attempts=(row["attempts"] if row else 0) + 1,
                          last_error=error)


def store_conflicts(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = db.conn.execute(
        "SELECT d.* FROM documents d JOIN store_journal j ON j.doc_id = d.id"
        " WHERE d.state = ? AND j.state = 'conflict' ORDER BY d.seq", (QUARANTINED,))
    return [dict(r) for r in rows]


def store_requeue_conflict(db: sqlite_utils.Database, doc_id: str, actor: str) -> None:
    """After a person resolved a name conflict in the store: back to ``filed``."""
    with transaction(db):
        update_document(db, doc_id, actor, "document.store_requeued",
                        {"note": "name conflict resolved by a person; store again"},
                        state=FILED, quarantine_reason=None)
        store_journal_set(db, doc_id, state="pending", last_error=None, item_id=None,
                          location=None, offset=0)


def stored_documents(db: sqlite_utils.Database, doc_ids: list[str] | None = None,
                     ) -> list[dict[str, Any]]:
    """Stored records with their journal (sha256, size, quickxor of the stored file)."""
    sql = ("SELECT d.*, j.size AS stored_size, j.quickxor AS stored_quickxor,"
           " j.target AS stored_target FROM documents d"
           " LEFT JOIN store_journal j ON j.doc_id = d.id WHERE d.state = ?")
    params: list[Any] = [STORED]
    if doc_ids:
        sql += f" AND d.id IN ({', '.join('?' for _ in doc_ids)})"
        params.extend(doc_ids)
    return [dict(r) for r in db.conn.execute(sql + " ORDER BY d.seq", params)]


def store_record_verification(
    db: sqlite_utils.Database, doc_id: str, actor: str, ok: bool, method: str, detail: str,
) -> None:
    """A fixity check. ``verified_at`` is when the copy was first proven good and stays put
    while later checks pass (the paper quarantine period counts from it; a routine check must
    not restart it); ``last_verified_at`` moves on. A failed check clears both, so nothing
    downstream — paper destruction — trusts a copy that no longer matches."""
    if ok:
        doc = get_document(db, doc_id) or {}
        stamp = now()
        update_document(db, doc_id, actor, "document.verified", {"method": method},
                        verified_at=doc.get("verified_at") or stamp, last_verified_at=stamp,
                        verify_method=method)
    else:
        update_document(db, doc_id, actor, "document.verify_failed",
                        {"method": method, "detail": detail},
                        verified_at=None, last_verified_at=None,
                        verify_method=f"FAILED {method}")


# ---- capture: stacks split into records (issue 13)


def documents_of_stack(db: sqlite_utils.Database, stack_id: str) -> list[dict[str, Any]]:
    """The records made from a split stack, in stack order."""
    rows = db.conn.execute("SELECT * FROM documents WHERE stack_id = ? ORDER BY seq",
                           (stack_id,))
    return [dict(r) for r in rows]


# ---- retention
# Retention events (a records manager says "case FOI/2021/0042 closed on …"), holds, and the
# queries behind the disposition report. Decisions themselves live in ``documents`` columns.

EXTRA_SCHEMA.append(
    """
    CREATE TABLE IF NOT EXISTS retention_events (
        id INTEGER PRIMARY KEY,
        event_type TEXT NOT NULL,
        reference TEXT NOT NULL,
        ref_key TEXT NOT NULL,
        event_date TEXT NOT NULL,
        recorded_by TEXT NOT NULL,
        recorded_at TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT ''
    );
    CREATE INDEX IF NOT EXISTS retention_events_ref ON retention_events(ref_key, event_type);

    CREATE TABLE IF NOT EXISTS holds (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        reason TEXT NOT NULL,
        scope_kind TEXT NOT NULL CHECK (scope_kind IN ('reference', 'class', 'doc')),
        scope_value TEXT NOT NULL,
        placed_by TEXT NOT NULL,
        placed_at TEXT NOT NULL,
        lifted_by TEXT,
        lifted_at TEXT,
        lift_reason TEXT
    );
    """
)

# Records whose retention is live: filed or stored, not (yet) disposed of.
RETAINED_STATES = (FILED, STORED)


def reference_key(text: str) -> str:
    """A reference folded for matching: letters and digits only, upper case, and the OCR
    look-alikes O→0, I/L→1 (so ``FOI/2021/0042``, ``foi 2021 OO42`` and ``FOI-2021-0042``
    are one asset id)."""
    folded = "".join(ch for ch in str(text).upper() if ch.isalnum())
    return folded.translate(str.maketrans({"O": "0", "I": "1", "L": "1"}))


def _ref_key_function(db: sqlite_utils.Database) -> None:
    db.conn.create_function("s4_ref_key", 1, reference_key, deterministic=True)


_REFS_JSON = "json_each(CASE WHEN json_valid(d.refs) THEN d.refs ELSE '[]' END)"


def insert_retention_event(
    db: sqlite_utils.Database, event_type: str, reference: str, event_date: str, actor: str,
    note: str, details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Store a retention event and its audit entry. Call inside a transaction."""
    cursor = db.conn.execute(
        "INSERT INTO retention_events (event_type, reference, ref_key, event_date, recorded_by,"
        " recorded_at, note) VALUES (?, ?, ?, ?, ?, ?, ?)",
        (event_type, reference, reference_key(reference), event_date, actor, now(), note),
    )
    event_id = cursor.lastrowid
    append_event(db, actor, "retention.event_recorded", f"retention-event:{event_id}",
                 {"event_type": event_type, "reference": reference, "event_date": event_date,
                  "note": note, **(details or {})})
    return dict(db.conn.execute("SELECT * FROM retention_events WHERE id = ?",
                                (event_id,)).fetchone())


def retention_events_for(db: sqlite_utils.Database, refs: list[str]) -> list[dict[str, Any]]:
    """Recorded events for any of these references, oldest recording first."""
    keys = sorted({reference_key(r) for r in refs if reference_key(r)})
    if not keys:
        return []
    marks = ", ".join("?" for _ in keys)
    rows = db.conn.execute(
        f"SELECT * FROM retention_events WHERE ref_key IN ({marks}) ORDER BY id", keys)
    return [dict(r) for r in rows]


def retention_events(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    return [dict(r) for r in db.conn.execute("SELECT * FROM retention_events ORDER BY id")]


def documents_with_reference(db: sqlite_utils.Database, reference: str) -> list[dict[str, Any]]:
    """Every document whose ``refs`` carry this reference (matched by ``reference_key``)."""
    _ref_key_function(db)
    rows = db.conn.execute(
        f"SELECT DISTINCT d.* FROM documents d, {_REFS_JSON} r"
        " WHERE d.refs IS NOT NULL AND s4_ref_key(r.value) = ? ORDER BY d.seq",
        (reference_key(reference),),
    )
    return [dict(r) for r in rows]


def retained_documents(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Filed or stored documents that have a record class: those retention applies to."""
    marks = ", ".join("?" for _ in RETAINED_STATES)
    rows = db.conn.execute(
        f"SELECT * FROM documents WHERE state IN ({marks}) AND record_class IS NOT NULL"
        " ORDER BY seq", RETAINED_STATES)
    return [dict(r) for r in rows]


def disposal_candidates(
    db: sqlite_utils.Database, before: str | None, action: str | None
) -> list[dict[str, Any]]:
    """Retained documents with a disposal date on or before ``before`` (ISO), soonest first."""
    marks = ", ".join("?" for _ in RETAINED_STATES)
    sql = (f"SELECT * FROM documents WHERE state IN ({marks}) AND record_class IS NOT NULL"
           " AND disposal_due IS NOT NULL")
    params: list[Any] = list(RETAINED_STATES)
    if before is not None:
        sql += " AND disposal_due <= ?"
        params.append(before)
    if action is not None:
        sql += " AND disposal_action = ?"
        params.append(action)
    rows = db.conn.execute(sql + " ORDER BY disposal_due, seq", params)
    return [dict(r) for r in rows]


def permanent_transfers(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Retained records kept permanently and bound for the archives: no date, so never in
    ``disposal_candidates`` (a dated rule always has ``disposal_due`` once triggered)."""
    marks = ", ".join("?" for _ in RETAINED_STATES)
    rows = db.conn.execute(
        f"SELECT * FROM documents WHERE state IN ({marks}) AND record_class IS NOT NULL"
        " AND disposal_action = 'transfer' AND disposal_due IS NULL"
        " AND trigger_date IS NOT NULL ORDER BY seq", list(RETAINED_STATES))
    return [dict(r) for r in rows]


def insert_hold(
    db: sqlite_utils.Database, reason: str, scope_kind: str, scope_value: str, actor: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Place a hold (id H0001, H0002, …) and log it, in one transaction."""
    with transaction(db) as conn:
        row = conn.execute("SELECT COALESCE(MAX(seq), 0) + 1 AS n FROM holds").fetchone()
        hold_id = f"H{row['n']:04d}"
        conn.execute(
            "INSERT INTO holds (seq, id, reason, scope_kind, scope_value, placed_by, placed_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (row["n"], hold_id, reason, scope_kind, scope_value, actor, now()),
        )
        append_event(db, actor, "hold.placed", f"hold:{hold_id}",
                     {"reason": reason, "scope": scope_kind, "value": scope_value,
                      **(details or {})})
        return dict(conn.execute("SELECT * FROM holds WHERE id = ?", (hold_id,)).fetchone())


def get_hold(db: sqlite_utils.Database, hold_id: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM holds WHERE id = ?", (hold_id,)).fetchone())


def lift_hold(
    db: sqlite_utils.Database, hold_id: str, reason: str, actor: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Lift an active hold and log it. The row keeps who placed and who lifted it."""
    with transaction(db) as conn:
        cursor = conn.execute(
            "UPDATE holds SET lifted_by = ?, lifted_at = ?, lift_reason = ?"
            " WHERE id = ? AND lifted_at IS NULL", (actor, now(), reason, hold_id))
        if cursor.rowcount != 1:
            raise KeyError(f"no active hold {hold_id}")
        append_event(db, actor, "hold.lifted", f"hold:{hold_id}",
                     {"reason": reason, **(details or {})})
        return dict(conn.execute("SELECT * FROM holds WHERE id = ?", (hold_id,)).fetchone())


def holds(db: sqlite_utils.Database, include_lifted: bool = False) -> list[dict[str, Any]]:
    sql = "SELECT * FROM holds"
    if not include_lifted:
        sql += " WHERE lifted_at IS NULL"
    return [dict(r) for r in db.conn.execute(sql + " ORDER BY seq")]


# ---- audit
# Reads only: ``s4 audit`` must see the log exactly as stored, so none of these migrate,
# write, or rely on the append-only triggers being present.


@contextmanager
def audit_snapshot(db: sqlite_utils.Database) -> Iterator[sqlite3.Connection]:
    """A read transaction: every query inside sees the same state (WAL snapshot)."""
    conn = db.conn
    if conn.in_transaction:
        yield conn
        return
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        conn.execute("COMMIT")


def audit_events_ordered(db: sqlite_utils.Database, by: str) -> Iterator[dict[str, Any]]:
    """Every event row, in storage (``rowid``) or sequence (``seq``) order, streamed."""
    order = {"rowid": "rowid", "seq": "seq, rowid"}[by]
    for row in db.conn.execute(f"SELECT rowid AS row_id, * FROM events ORDER BY {order}"):
        yield dict(row)


def audit_event_by_seq(db: sqlite_utils.Database, seq: int) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM events WHERE seq = ? ORDER BY rowid LIMIT 1",
                                (seq,)).fetchone())


def audit_event_by_hash(db: sqlite_utils.Database, digest: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM events WHERE hash = ? ORDER BY rowid LIMIT 1",
                                (digest,)).fetchone())


def audit_events_between(db: sqlite_utils.Database, low: int, high: int
                         ) -> list[dict[str, Any]]:
    rows = db.conn.execute("SELECT * FROM events WHERE seq BETWEEN ? AND ? ORDER BY seq",
                           (low, high))
    return [dict(r) for r in rows]


def audit_last_event(db: sqlite_utils.Database) -> dict[str, Any] | None:
    return _row(db.conn.execute(
        "SELECT * FROM events ORDER BY seq DESC, rowid DESC LIMIT 1").fetchone())


def audit_event_count(db: sqlite_utils.Database) -> int:
    return db.conn.execute("SELECT COUNT(*) AS n FROM events").fetchone()["n"]


def audit_event_triggers(db: sqlite_utils.Database) -> dict[str, str]:
    """Name -> CREATE TRIGGER text of every trigger on the events table."""
    rows = db.conn.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'events'")
    return {row["name"]: row["sql"] or "" for row in rows}


def audit_seq_is_rowid(db: sqlite_utils.Database) -> bool:
    """True while ``events.seq`` is the INTEGER PRIMARY KEY (so storage order is seq order)."""
    columns = db.conn.execute("PRAGMA table_info(events)").fetchall()
    keys = [c for c in columns if c["pk"]]
    return len(keys) == 1 and keys[0]["name"] == "seq" and keys[0]["type"].upper() == "INTEGER"


def audit_database_path(db: sqlite_utils.Database) -> str | None:
    for row in db.conn.execute("PRAGMA database_list"):
        if row["name"] == "main":
            return row["file"] or None
    return None


# ---- audit anchors (RFC 3161 timestamp tokens over the head; ``s4 audit anchor``)
# The one write ``s4 audit`` makes: an anchor and its ``audit.anchored`` entry. It creates
# only its own table, never migrates (which would put back dropped triggers).


def insert_audit_anchor(db: sqlite_utils.Database, actor: str, seq: int, digest: str,
                        token: bytes, tsa_url: str, tsa_time: str) -> dict[str, Any]:
    """Store a timestamp token for entry ``seq`` and log it, in one transaction."""
    db.conn.executescript(_ANCHORS_SCHEMA)
    with transaction(db) as conn:
        cursor = conn.execute(
            "INSERT INTO audit_anchors (seq, hash, token, tsa_url, tsa_time, anchored_at,"
            " actor) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (seq, digest, token, tsa_url, tsa_time, now(), actor))
        anchor_id = cursor.lastrowid
        event = append_event(db, actor, "audit.anchored", f"anchor:{anchor_id}",
                             {"seq": seq, "hash": digest, "tsa": tsa_url, "tsa_time": tsa_time,
                              "token_sha256": hashlib.sha256(token).hexdigest()})
    return {"id": anchor_id, "event_seq": event["seq"]}


def audit_anchors(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Every stored anchor, oldest first; none when the table was never created."""
    exists = db.conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = "
                             "'audit_anchors'").fetchone()
    if not exists:
        return []
    return [dict(r) for r in db.conn.execute("SELECT * FROM audit_anchors ORDER BY id")]


def audit_anchored_event_count(db: sqlite_utils.Database) -> int:
    return db.conn.execute("SELECT COUNT(*) AS n FROM events WHERE action = 'audit.anchored'"
                           ).fetchone()["n"]


def audit_trail(
    db: sqlite_utils.Database, doc: str | None = None, box: str | None = None,
    since: str | None = None, actor: str | None = None, action: str | None = None,
    until: str | None = None,
) -> Iterator[dict[str, Any]]:
    """Events for ``s4 audit log``, in sequence order. Filters combine (AND).

    ``doc``: events about that document. ``box``: events about documents in the box, the
    box itself (``box:ID``), its batches (``batch:ID``) and the certificates that cover it
    (``certificate:ID``). ``since``: ``at`` on or after
    this UTC timestamp (same ISO form as ``now()``); ``until``: ``at`` before it.
    ``actor``: that person exactly; ``action``: that action, or every action under it when it
    ends in ``.`` (``user.`` matches ``user.signed_in``).
    """
    clauses: list[str] = []
    params: list[Any] = []
    if doc is not None:
        clauses.append("subject = ?")
        params.append(doc)
    if box is not None:
        clauses.append(
            "(subject IN (SELECT id FROM documents WHERE box = ?) OR subject = ?"
            " OR subject IN (SELECT 'batch:' || id FROM batches WHERE box = ?)"
            " OR subject IN (SELECT 'certificate:' || d.id FROM destructions d,"
            " json_each(d.boxes) b WHERE b.value = ?))")
        params += [box, f"box:{box}", box, box]
    if since is not None:
        clauses.append("at >= ?")
        params.append(since)
    if until is not None:
        clauses.append("at < ?")
        params.append(until)
    if actor is not None:
        clauses.append("actor = ?")
        params.append(actor)
    if action is not None and action.endswith("."):
        clauses.append("substr(action, 1, ?) = ?")
        params += [len(action), action]
    elif action is not None:
        clauses.append("action = ?")
        params.append(action)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    for row in db.conn.execute(f"SELECT * FROM events{where} ORDER BY seq", params):
        yield dict(row)


# ---- inbox entries not taken (links, FIFOs, sockets, devices left in the inbox)

EXTRA_SCHEMA.append("""
    CREATE TABLE IF NOT EXISTS inbox_not_taken (
        path_hex TEXT PRIMARY KEY,
        path TEXT NOT NULL,
        reason TEXT NOT NULL,
        first_seen TEXT NOT NULL,
        last_seen TEXT NOT NULL
    );
    """)


def note_not_taken(db: sqlite_utils.Database, path_hex: str, path: str, reason: str) -> bool:
    """Remember an inbox entry S4 refused. True when it is new (or its reason changed)."""
    stamp = now()
    with transaction(db) as conn:
        row = conn.execute("SELECT reason FROM inbox_not_taken WHERE path_hex = ?",
                           (path_hex,)).fetchone()
        if row is None:
            conn.execute("INSERT INTO inbox_not_taken (path_hex, path, reason, first_seen, "
                         "last_seen) VALUES (?, ?, ?, ?, ?)",
                         (path_hex, path, reason, stamp, stamp))
            return True
        conn.execute("UPDATE inbox_not_taken SET reason = ?, last_seen = ? WHERE path_hex = ?",
                     (reason, stamp, path_hex))
        return row["reason"] != reason


def forget_not_taken(db: sqlite_utils.Database, path_hex: str) -> None:
    with transaction(db) as conn:
        conn.execute("DELETE FROM inbox_not_taken WHERE path_hex = ?", (path_hex,))


def not_taken_entries(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    """Entries refused from the inbox, oldest first (empty on a home not yet migrated)."""
    try:
        rows = db.conn.execute("SELECT * FROM inbox_not_taken ORDER BY first_seen, path")
        return [dict(row) for row in rows]
    except sqlite3.OperationalError:  # no such table: no `s4 watch` since this version
        return []
# ---- accounts and web sessions
# The desk's people and their signed-in sessions. Only a SHA-256 of a session token is kept,
# so a copy of the database cannot be used to sign in. Every change to an account is written
# with its audit event in the same transaction.


def insert_user(db: sqlite_utils.Database, actor: str, name: str, roles: list[str],
                password_hash: str) -> None:
    """Add an account; raises sqlite3.IntegrityError when the name is taken."""
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO users (name, roles, password_hash, created_at) VALUES (?, ?, ?, ?)",
            (name, json.dumps(roles), password_hash, now()))
        append_event(db, actor, "user.added", f"user:{name}", {"roles": roles})


def get_user(db: sqlite_utils.Database, name: str) -> dict[str, Any] | None:
    record = _row(db.conn.execute("SELECT * FROM users WHERE name = ?", (name,)).fetchone())
    if record is not None:
        record["roles"] = json.loads(record["roles"])
    return record


def list_users(db: sqlite_utils.Database) -> list[dict[str, Any]]:
    rows = [dict(r) for r in db.conn.execute("SELECT * FROM users ORDER BY name")]
    for row in rows:
        row["roles"] = json.loads(row["roles"])
    return rows


def change_user(db: sqlite_utils.Database, name: str, actor: str, action: str,
                details: dict[str, Any] | None = None, end_sessions: bool = False,
                **fields: Any) -> None:
    """Change an account's columns and log why; ``end_sessions`` signs the person out."""
    with transaction(db) as conn:
        assignments = ", ".join(f"{column} = ?" for column in fields)
        cursor = conn.execute(f"UPDATE users SET {assignments} WHERE name = ?",
                              (*fields.values(), name))
        if cursor.rowcount != 1:
            raise KeyError(f"no user {name}")
        if end_sessions:
            conn.execute("DELETE FROM web_sessions WHERE user_name = ?", (name,))
        append_event(db, actor, action, f"user:{name}", details or {})


def reserve_sign_in_attempt(db: sqlite_utils.Database, name: str, at: str,
                            max_failures: int, lock_until: str) -> int | None:
    """Count one more sign-in try against the account *before* its password is checked,
    and return which try it is; None when the account is locked (then nothing is checked).

    Counting first, in one write transaction, means tries sent at the same moment each get
    their own number: no more than ``max_failures`` passwords are ever checked between
    lock-outs. A try beyond them locks the account until ``lock_until``. A lock that has run
    out leaves one try before the next lock (a wrong password locks again)."""
    with transaction(db) as conn:
        row = conn.execute("SELECT failed_attempts, locked_until FROM users WHERE name = ?",
                           (name,)).fetchone()
        if row is None:
            return None
        failures, locked_until = row["failed_attempts"], row["locked_until"]
        if locked_until and locked_until > at:
            return None
        if locked_until:
            failures = min(failures, max_failures - 1)
        attempt = failures + 1
        if attempt > max_failures:
            conn.execute("UPDATE users SET failed_attempts = ?, locked_until = ? WHERE name = ?",
                         (max_failures, lock_until, name))
            return None
        conn.execute("UPDATE users SET failed_attempts = ?, locked_until = NULL WHERE name = ?",
                     (attempt, name))
        return attempt


def log_event(db: sqlite_utils.Database, actor: str, action: str, subject: str,
              details: dict[str, Any] | None = None) -> None:
    """One audit entry on its own (e.g. a sign-in refused for an unknown name)."""
    with transaction(db):
        append_event(db, actor, action, subject, details or {})


def insert_web_session(db: sqlite_utils.Database, token_sha256: str, user_name: str,
                       csrf_token: str, at: str, details: dict[str, Any]) -> None:
    """Start a session, reset the failure count and log the sign-in, together."""
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO web_sessions (token_sha256, user_name, csrf_token, created_at,"
            " last_seen) VALUES (?, ?, ?, ?, ?)", (token_sha256, user_name, csrf_token, at, at))
        conn.execute("UPDATE users SET failed_attempts = 0, locked_until = NULL,"
                     " last_sign_in = ? WHERE name = ?", (at, user_name))
        append_event(db, user_name, "user.signed_in", f"user:{user_name}", details)


def get_web_session(db: sqlite_utils.Database, token_sha256: str) -> dict[str, Any] | None:
    return _row(db.conn.execute("SELECT * FROM web_sessions WHERE token_sha256 = ?",
                                (token_sha256,)).fetchone())


def touch_web_session(db: sqlite_utils.Database, token_sha256: str, at: str) -> None:
    with transaction(db) as conn:
        conn.execute("UPDATE web_sessions SET last_seen = ? WHERE token_sha256 = ?",
                     (at, token_sha256))


def end_web_session(db: sqlite_utils.Database, token_sha256: str, actor: str | None,
                    action: str | None, details: dict[str, Any] | None = None) -> None:
    """Delete a session; with ``action``, log it (sign-out, expiry) in the same transaction."""
    with transaction(db) as conn:
        row = conn.execute("SELECT user_name FROM web_sessions WHERE token_sha256 = ?",
                           (token_sha256,)).fetchone()
        conn.execute("DELETE FROM web_sessions WHERE token_sha256 = ?", (token_sha256,))
        if row is not None and action is not None:
            append_event(db, actor or row["user_name"], action, f"user:{row['user_name']}",
                         details or {})


def web_session_count(db: sqlite_utils.Database, user_name: str) -> int:
    return db.conn.execute("SELECT COUNT(*) AS n FROM web_sessions WHERE user_name = ?",
                           (user_name,)).fetchone()["n"]


# ---- image QA and the QA sample that releases a box (``s4 qa``)
# A batch may carry the page count its operator typed (``s4 run --expect-pages``). Each
# draw of a box's QA sample is one row (its seed, rule and pages, so an auditor can draw the
# same sample again); each person's verdict on a page is one row, the latest counting.

BATCH_COLUMNS: dict[str, str] = {"expected_pages": "INTEGER"}
EXTRA_SCHEMA.append("""
CREATE TABLE IF NOT EXISTS qa_samples (
    id INTEGER PRIMARY KEY,
    box TEXT NOT NULL,
    pipeline TEXT NOT NULL,
    drawn_at TEXT NOT NULL,
    drawn_by TEXT NOT NULL,
    seed INTEGER NOT NULL,
    rule TEXT NOT NULL,
    population TEXT NOT NULL,
    pages TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS qa_samples_box ON qa_samples(box);
CREATE TABLE IF NOT EXISTS qa_verdicts (
    id INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL REFERENCES documents(id),
    page_no INTEGER NOT NULL,
    result TEXT NOT NULL CHECK (result IN ('passed', 'failed')),
    reason TEXT NOT NULL,
    actor TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS qa_verdicts_page ON qa_verdicts(doc_id, page_no);
""")


def migrate_batch_columns(db: sqlite_utils.Database) -> None:
    """Add the batch columns later stages need (idempotent)."""
    existing = {row["name"] for row in db.conn.execute("PRAGMA table_info(batches)")}
    for name, sql_type in BATCH_COLUMNS.items():
        if name not in existing:
            db.conn.execute(f"ALTER TABLE batches ADD COLUMN {name} {sql_type}")


def set_expected_pages(db: sqlite_utils.Database, batch_id: str, pages: int, actor: str) -> None:
    with transaction(db) as conn:
        conn.execute("UPDATE batches SET expected_pages = ? WHERE id = ?", (pages, batch_id))
        append_event(db, actor, "batch.expected_pages", f"batch:{batch_id}", {"pages": pages})


def add_page_flag(db: sqlite_utils.Database, doc_id: str, page_no: int, flag: dict[str, str],
                  actor: str) -> None:
    """Flag one page after OCR (e.g. a batch page count that does not add up)."""
    with transaction(db) as conn:
        row = conn.execute("SELECT flags FROM pages WHERE doc_id = ? AND page_no = ?",
                           (doc_id, page_no)).fetchone()
        if row is None:
            raise KeyError(f"{doc_id} has no page {page_no}")
        flags = [*json.loads(row["flags"] or "[]"), flag]
        conn.execute("UPDATE pages SET flags = ?, flagged = 1 WHERE doc_id = ? AND page_no = ?",
                     (json.dumps(flags), doc_id, page_no))
        numbers = [r["page_no"] for r in conn.execute(
            "SELECT page_no FROM pages WHERE doc_id = ? AND flagged = 1 ORDER BY page_no",
            (doc_id,))]
        conn.execute("UPDATE documents SET flagged_pages = ?, updated_at = ? WHERE id = ?",
                     (",".join(map(str, numbers)), now(), doc_id))
        append_event(db, actor, "page.flagged", doc_id, {"page": page_no, **flag})


def box_pages(db: sqlite_utils.Database, box: str) -> list[dict[str, Any]]:
    """The box's pages in canonical order (box position, record, page): the population a
    QA sample is drawn from. Superseded and duplicate records have no pages of their own."""
    rows = db.conn.execute(
        "SELECT d.id AS doc_id, p.page_no, p.flagged, p.flags, d.state, d.paper_status"
        " FROM documents d JOIN pages p ON p.doc_id = d.id"
        " WHERE d.box = ? AND d.state NOT IN (?, ?, ?)"
        " ORDER BY d.position, d.seq, p.page_no", (box, SUPERSEDED, DUPLICATE, QUARANTINED))
    return [{**dict(r), "flags": json.loads(r["flags"] or "[]")} for r in rows]


def flagged_pages_in_boxes(db: sqlite_utils.Database, boxes: list[str] | None
                           ) -> list[dict[str, Any]]:
    """Flagged pages of current records (in the given boxes, or all), in box order."""
    sql = ("SELECT d.id AS doc_id, d.box, p.page_no, p.flags, d.qa_status FROM documents d"
           " JOIN pages p ON p.doc_id = d.id WHERE p.flagged = 1 AND d.state NOT IN (?, ?, ?)"
           " AND COALESCE(d.paper_status, 'in_box') = 'in_box'")
    params: list[Any] = [SUPERSEDED, DUPLICATE, QUARANTINED]
    if boxes is not None:
        sql += f" AND d.box IN ({', '.join('?' for _ in boxes)})"
        params.extend(boxes)
    rows = db.conn.execute(sql + " ORDER BY d.box, d.position, d.seq, p.page_no", params)
    return [{**dict(r), "flags": json.loads(r["flags"] or "[]")} for r in rows]


def insert_qa_sample(db: sqlite_utils.Database, actor: str, sample: dict[str, Any]) -> int:
    """Record one draw of a box's sample and its audit event."""
    with transaction(db) as conn:
        stamp = now()
        cursor = conn.execute(
            "INSERT INTO qa_samples (box, pipeline, drawn_at, drawn_by, seed, rule, population,"
            " pages) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (sample["box"], sample["pipeline"], stamp, actor, sample["seed"],
             json.dumps(sample["rule"]), json.dumps(sample["population"]),
             json.dumps(sample["pages"])))
        append_event(db, actor, "qa.sample_drawn", f"box:{sample['box']}", {
            "sample": cursor.lastrowid, "seed": sample["seed"], "rule": sample["rule"],
            "population": len(sample["population"]),
            "population_sha256": hashlib.sha256(
                json.dumps(sample["population"]).encode()).hexdigest(),
            "pages": sample["pages"]})
        return int(cursor.lastrowid)


def _sample_row(row: sqlite3.Row) -> dict[str, Any]:
    record = dict(row)
    for name in ("rule", "population", "pages"):
        record[name] = json.loads(record[name])
    return record


def qa_samples(db: sqlite_utils.Database, box: str | None = None,
               pipeline: str | None = None) -> list[dict[str, Any]]:
    """Draws in the order they were made (of one box, or one pipeline's boxes, or all)."""
    sql, params = "SELECT * FROM qa_samples", []
    if box is not None:
        sql += " WHERE box = ?"
        params.append(box)
    elif pipeline is not None:
        sql += " WHERE pipeline = ?"
        params.append(pipeline)
    return [_sample_row(r) for r in db.conn.execute(sql + " ORDER BY id", params)]


def insert_qa_verdict(db: sqlite_utils.Database, actor: str, doc_id: str, page_no: int,
                      result: str, reason: str) -> None:
    with transaction(db) as conn:
        conn.execute(
            "INSERT INTO qa_verdicts (doc_id, page_no, result, reason, actor, at)"
            " VALUES (?, ?, ?, ?, ?, ?)", (doc_id, page_no, result, reason, actor, now()))
        append_event(db, actor, f"qa.page_{result}", doc_id,
                     {"page": page_no, "reason": reason})


def qa_verdicts(db: sqlite_utils.Database, doc_ids: list[str]) -> dict[tuple[str, int],
                                                                      dict[str, Any]]:
    """The latest verdict on each page of these records: (doc, page) -> verdict."""
    if not doc_ids:
        return {}
    marks = ", ".join("?" for _ in doc_ids)
    rows = db.conn.execute(
        f"SELECT * FROM qa_verdicts WHERE doc_id IN ({marks}) ORDER BY id", doc_ids)
    return {(r["doc_id"], r["page_no"]): dict(r) for r in rows}


def page_exists(db: sqlite_utils.Database, doc_id: str, page_no: int) -> bool:
    return db.conn.execute("SELECT 1 FROM pages WHERE doc_id = ? AND page_no = ?",
                           (doc_id, page_no)).fetchone() is not None
# ---- full-text search (the desk's /search)
# Two FTS5 tables kept in step with the records by triggers, so every writer (the line, a
# review decision, a re-scan) updates them in its own transaction without knowing they exist:
# ``search_pages`` holds each page's OCR text (rowid = the page row's rowid) and
# ``search_documents`` each document's metadata (rowid = documents.seq). ``migrate`` creates
# them and fills them from the existing rows the first time, so old homes are searchable.

_SEARCH_METADATA = ("new.id || ' ' || new.source_name || ' ' || COALESCE(new.box, '') || ' '"
                    " || COALESCE(new.record_class, '') || ' ' || COALESCE(new.proposed_class,"
                    " '') || ' ' || COALESCE(new.refs, '') || ' ' || new.batch_id")
_SEARCH_SCHEMA = f"""
CREATE TRIGGER IF NOT EXISTS search_pages_added AFTER INSERT ON pages BEGIN
  INSERT INTO search_pages (rowid, body) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS search_pages_removed AFTER DELETE ON pages BEGIN
  DELETE FROM search_pages WHERE rowid = old.rowid;
END;
CREATE TRIGGER IF NOT EXISTS search_pages_changed AFTER UPDATE OF text ON pages BEGIN
  DELETE FROM search_pages WHERE rowid = old.rowid;
  INSERT INTO search_pages (rowid, body) VALUES (new.rowid, new.text);
END;
CREATE TRIGGER IF NOT EXISTS search_documents_added AFTER INSERT ON documents BEGIN
  INSERT INTO search_documents (rowid, body) VALUES (new.seq, {_SEARCH_METADATA});
END;
CREATE TRIGGER IF NOT EXISTS search_documents_changed AFTER UPDATE OF source_name, box,
  record_class, proposed_class, refs ON documents BEGIN
  DELETE FROM search_documents WHERE rowid = old.seq;
  INSERT INTO search_documents (rowid, body) VALUES (new.seq, {_SEARCH_METADATA});
END;
CREATE TRIGGER IF NOT EXISTS search_documents_removed AFTER DELETE ON documents BEGIN
  DELETE FROM search_documents WHERE rowid = old.seq;
END;
"""
SEARCH_LIMIT = 200  # the most results one search shows


def build_search_index(db: sqlite_utils.Database) -> None:
    """Create the search tables and triggers; fill the tables when they are new."""
    present = {row["name"] for row in db.conn.execute(
        "SELECT name FROM sqlite_master WHERE name IN ('search_pages', 'search_documents')")}
    with transaction(db) as conn:
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS search_pages USING fts5(body)")
        conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS search_documents USING fts5(body)")
        if "search_pages" not in present:
            conn.execute("INSERT INTO search_pages (rowid, body) SELECT rowid, text FROM pages")
        if "search_documents" not in present:
            conn.execute("INSERT INTO search_documents (rowid, body) SELECT seq, "
                         + _SEARCH_METADATA.replace("new.", "") + " FROM documents")
    db.conn.executescript(_SEARCH_SCHEMA)


def fts_query(words: str) -> str:
    """A person's words as an FTS5 query: every word must appear (each quoted, so no
    character they type is FTS syntax); the last may be the start of a word."""
    # Control characters (a NUL ends SQLite's reading of the query mid-string) only separate.
    words = "".join(" " if unicodedata.category(ch) == "Cc" else ch for ch in words)
    terms = [f'"{term.replace(chr(34), chr(34) * 2)}"' for term in words.split()]
    if terms:
        terms[-1] += "*"
    return " ".join(terms)


def search_documents(
    db: sqlite_utils.Database, words: str, record_class: str | None = None,
    box: str | None = None, date_from: str | None = None, date_to: str | None = None,
    limit: int = SEARCH_LIMIT,
) -> list[dict[str, Any]]:
    """Documents whose OCR text or metadata holds every word, best match first, each with
    a ``snippet`` of the best page (matches between \x02 and \x03). Filters combine; the
    dates bound ``document_date`` (ISO, inclusive). With no words, the filters alone."""
    clauses: list[str] = []
    params: list[Any] = []
    query = fts_query(words)
    for column, value in (("record_class", record_class), ("box", box)):
        if value:
            clauses.append(f"d.{column} = ?")
            params.append(value)
    if date_from:
        clauses.append("d.document_date >= ?")
        params.append(date_from)
    if date_to:
        clauses.append("d.document_date <= ?")
        params.append(date_to)
    where = "".join(f" AND {clause}" for clause in clauses)
    if not query:
        rows = db.conn.execute(
            f"SELECT d.*, '' AS snippet, NULL AS page_no FROM documents d WHERE 1 = 1{where}"
            " ORDER BY d.seq LIMIT ?", (*params, limit))
        return [dict(r) for r in rows]
    sql = f"""
        WITH page_hits AS (
            SELECT p.doc_id, p.page_no, bm25(search_pages) AS rank,
                   snippet(search_pages, 0, char(2), char(3), '…', 16) AS snippet
            FROM search_pages JOIN pages p ON p.rowid = search_pages.rowid
            WHERE search_pages MATCH ?),
        meta_hits AS (
            SELECT d.id AS doc_id, bm25(search_documents) AS rank
            FROM search_documents JOIN documents d ON d.seq = search_documents.rowid
            WHERE search_documents MATCH ?),
        best AS (
            SELECT doc_id, MIN(rank) AS rank FROM (
                SELECT doc_id, rank FROM page_hits UNION ALL SELECT doc_id, rank FROM meta_hits)
            GROUP BY doc_id)
        SELECT d.*, best.rank,
            (SELECT h.snippet FROM page_hits h WHERE h.doc_id = d.id ORDER BY h.rank
             LIMIT 1) AS snippet,
            (SELECT h.page_no FROM page_hits h WHERE h.doc_id = d.id ORDER BY h.rank
             LIMIT 1) AS page_no
        FROM best JOIN documents d ON d.id = best.doc_id
        WHERE 1 = 1{where} ORDER BY best.rank, d.seq LIMIT ?"""
    rows = db.conn.execute(sql, (query, query, *params, limit))
    return [dict(r) for r in rows]


def search_classes(db: sqlite_utils.Database) -> list[str]:
    """The record classes documents have, for the search form's filter."""
    rows = db.conn.execute("SELECT DISTINCT record_class FROM documents WHERE record_class"
                           " IS NOT NULL ORDER BY record_class")
    return [row["record_class"] for row in rows]


# ---- the desk's figures (pages per minute)


def batch_throughput(db: sqlite_utils.Database) -> dict[str, dict[str, Any]]:
    """Per batch: pages OCRed, from its first document's arrival to its last OCR result
    (``started``, ``finished``), for the desk's pages per minute."""
    rows = db.conn.execute(
        "SELECT d.batch_id AS batch, SUM(d.pages) AS pages, MIN(d.created_at) AS started,"
        " MAX((SELECT MAX(e.at) FROM events e WHERE e.subject = d.id"
        "      AND e.action = 'document.ocr_completed')) AS finished"
        " FROM documents d WHERE d.pages IS NOT NULL GROUP BY d.batch_id")
    return {row["batch"]: dict(row) for row in rows}
