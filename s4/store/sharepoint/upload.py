"""Putting one record's bytes in the library through a Graph upload session.

The session is created with ``conflictBehavior: fail`` (S4 never overwrites), the file goes
up in fragments, and an interrupted upload resumes from the server's
``nextExpectedRanges``. The live session URL carries a ``tempauth`` token, so it is kept only
in a private file (mode 0600) under ``work/.store-sessions/``; the journal holds it redacted.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from pathlib import Path
from typing import IO, Any

from s4.config import SharePointSettings
from s4.store.base import Journal, Outcome, StoreError, StoreUnavailable, Upload, redact_url
from s4.store.sharepoint.graph import Graph, Interrupted, ItemRejected, graph_error
from s4.store.sharepoint.library import Library

log = logging.getLogger("s4.store.sharepoint")

HIDDEN_NAME_TRIES = 3  # 409 on create, 404 on look-up, this often: a file S4 cannot see


class SessionFiles:
    """Live upload-session URLs, one private file per record, so a crash can resume."""

    def __init__(self, folder: Path):
        self.folder = folder

    def _file(self, doc_id: str) -> Path:
        return self.folder / f"{doc_id}.url"

    def save(self, doc_id: str, url: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self._file(doc_id)
        temporary = target.with_suffix(".part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(url)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def load(self, doc_id: str) -> str | None:
        try:
            return self._file(doc_id).read_text().strip() or None
        except FileNotFoundError:
            return None

    def remove(self, doc_id: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._file(doc_id).unlink()


class Uploader:
    """Uploads one record's file, or finds it already there, or reports the conflict."""

    def __init__(self, settings: SharePointSettings, graph: Graph, library: Library,
                 sessions: SessionFiles):
        self.settings = settings
        self.graph = graph
        self.library = library
        self.sessions = sessions

    def _forget_session(self, doc_id: str, url: str | None, cancel: bool) -> None:
        if url and cancel:
            with contextlib.suppress(StoreError, Interrupted):
                self.graph.request("DELETE", url, what="cancel upload session", auth=False)
        self.sessions.remove(doc_id)

    def _session_offset(self, url: str) -> int | None:
        """Where the server wants the next byte, or None if the session is gone."""
        response = self.graph.request("GET", url, what="upload session status", auth=False)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise graph_error(response, "upload session status")
        ranges = response.json().get("nextExpectedRanges") or []
        return _range_start(ranges)

    def _create_session(self, parent_id: str, upload: Upload) -> str | None:
        """A new upload session, or None when the name is taken (409)."""
        response = self.graph.request(
            "POST", f"{self.library.child_url(parent_id, upload.name)}:/createUploadSession",
            what="create upload session",
            json={"item": {"@microsoft.graph.conflictBehavior": "fail", "name": upload.name}})
        if response.status_code == 409:
            return None
        if response.status_code == 403:
            raise self.library.forbidden("create upload session")
        if response.status_code != 200:
            raise graph_error(response, "create upload session", item=True)
        return response.json()["uploadUrl"]

    @staticmethod
    def _same_file(item: dict[str, Any], upload: Upload) -> bool:
        remote = ((item.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        return item.get("size") == upload.size and remote == upload.quickxor

    def _conflict(self, item: dict[str, Any], upload: Upload) -> Outcome:
        where = item.get("webUrl") or f"{self.library.path_prefix}{upload.relative_path}"
        return Outcome(
            "conflict", location=where, item_id=item.get("id", ""),
            detail=(f"a different file named {upload.name!r} is already in SharePoint at "
                    f"{where} (size {item.get('size')} bytes, this record's PDF is "
                    f"{upload.size}; the hashes differ). S4 never overwrites. Check which is "
                    "right, move or rename the other file in SharePoint, then run "
                    "`s4 store sync --retry-conflicts`."))

    def _hidden_conflict(self, upload: Upload) -> Outcome:
        where = f"{self.library.path_prefix}{upload.relative_path}"
        return Outcome(
            "conflict", location=where,
            detail=(f"the name {upload.name!r} is taken in SharePoint at {where} by a file "
                    "the app cannot see: SharePoint answers that the name exists (HTTP 409), "
                    "but reading that path finds nothing (HTTP 404), "
                    f"{HIDDEN_NAME_TRIES} times. S4 never overwrites. A SharePoint "
                    "administrator should look for a file checked out with no checked-in "
                    "version (Library settings → Manage files which have no checked in "
                    "version) and check it in or remove it, or for a draft hidden by the "
                    "library's draft item security or item-level permissions; then run "
                    "`s4 store sync --retry-conflicts`."))

    def upload(self, upload: Upload, journal: Journal) -> tuple[dict[str, Any], bool] | Outcome:
        """Put the bytes in place. Returns (driveItem, uploaded?) or a conflict Outcome."""
        doc_id = upload.doc_id
        parent = self.library.ensure_folder(upload.folder)
        url = self.sessions.load(doc_id) if journal.state == "uploading" else None
        failures = hidden = 0
        with upload.path.open("rb") as handle:
            while True:
                offset: int | None = None
                if url:
                    offset = self._session_offset(url)
                    if offset is None:  # expired, cancelled or already committed
                        log.info("%s: upload session gone; looking for the file", doc_id)
                        self._forget_session(doc_id, url, cancel=False)
                        url = None
                    elif offset != journal.get("offset", 0):
                        log.info("%s: resuming at byte %d (journal said %s)", doc_id, offset,
                                 journal.get("offset", 0))
                if not url:
                    existing = self.library.child(parent, upload.name, "look for existing file")
                    if existing is not None:
                        if self._same_file(existing, upload):
                            return existing, journal.state == "uploading"
                        return self._conflict(existing, upload)
                    url = self._create_session(parent, upload)
                    if url is None:  # taken, yet not found when looked up just before
                        hidden += 1  # a race with someone else, or a file the app cannot see
                        if hidden >= HIDDEN_NAME_TRIES:
                            return self._hidden_conflict(upload)
                        self.graph.pause(self.graph.backoff(hidden))
                        continue
                    self.sessions.save(doc_id, url)
                    journal.set(state="uploading", session=redact_url(url), offset=0)
                    offset = 0
                try:
                    result = self._send(handle, url, offset or 0, upload, journal)
                except ItemRejected:  # refused for this record: do not leave a live session
                    self._forget_session(doc_id, url, cancel=True)
                    raise
                if isinstance(result, dict):
                    self._forget_session(doc_id, url, cancel=False)
                    return result, True
                if result == "conflict":  # the name was taken at commit: look again
                    self._forget_session(doc_id, url, cancel=True)
                    url = None
                    failures += 1
                    if failures >= 2 * self.settings.max_attempts:
                        return self._hidden_conflict(upload)
                    continue
                if result == "gone":
                    self._forget_session(doc_id, url, cancel=False)
                    url = None
                failures += 1
                if failures >= 2 * self.settings.max_attempts:
                    raise StoreUnavailable(f"{doc_id}: upload keeps failing; will resume later")

    def _send(self, handle: IO[bytes], url: str, offset: int, upload: Upload,
              journal: Journal) -> dict[str, Any] | str:
        """Send fragments from ``offset``. Returns the driveItem when complete, or
        'resync' (ask the server where it is), 'gone' (session lost) or 'conflict'."""
        fragment = self.settings.fragment_size
        while True:
            handle.seek(offset)
            chunk = handle.read(fragment)
            end = offset + len(chunk) - 1
            try:
                response = self.graph.request(
                    "PUT", url, what=f"upload {upload.doc_id} bytes {offset}-{end}", auth=False,
                    idempotent=False, data=chunk,
                    headers={"Content-Range": f"bytes {offset}-{end}/{upload.size}",
                             "Content-Length": str(len(chunk))})
            except Interrupted:
                return "resync"
            status = response.status_code
            if status in (200, 201):
                return response.json()
            if status == 202:
                next_offset = _range_start(response.json().get("nextExpectedRanges") or [])
                if next_offset is None or next_offset <= offset:
                    return "resync"
                offset = next_offset
                journal.set(offset=offset)
                continue
            if status == 404:
                return "gone"
            if status == 409:
                return "conflict"
            if status == 416:
                return "resync"
            raise graph_error(response, f"upload {upload.doc_id}", item=True)


def _range_start(ranges: list[str]) -> int | None:
    """The first byte of the first of Graph's ``nextExpectedRanges`` (``"26-"``)."""
    if not ranges:
        return None
    match = re.match(r"\s*(\d+)", ranges[0])
    return int(match.group(1)) if match else None
