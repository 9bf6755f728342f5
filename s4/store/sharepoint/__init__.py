"""SharePoint Online through Microsoft Graph, signed in as an Entra app with a certificate.

Sign-in: MSAL ``ConfidentialClientApplication``, client-credentials flow, certificate
credential (PEM with key, or PFX; its password comes from an environment variable). Tokens
are cached by MSAL; after a 401 from Graph the cached token is dropped and the request is
tried once more.

Graph calls made (and nothing else — the test fake implements exactly these):

\b
  GET   /sites/{host}:/{path}                         resolve the site
  GET   /sites/{site-id}/drives                       find the library (drive) by name
  GET   /drives/{drive-id}/root                       the library's root folder
  GET   /drives/{drive-id}/list/columns               (check only) which columns exist
  GET   /drives/{drive-id}/items/{parent-id}:/{name}  is a folder/file there already?
  POST  /drives/{drive-id}/items/{parent-id}/children create a folder (conflictBehavior fail)
  POST  /drives/{drive-id}/items/{parent-id}:/{name}:/createUploadSession
  PUT   {uploadUrl}  (fragments, no Authorization header)   GET {uploadUrl} (status)
  DELETE {uploadUrl} (abandon a session)
  PATCH /drives/{drive-id}/items/{item-id}/listItem/fields
  GET   /drives/{drive-id}/items/{item-id}            size and file.hashes.quickXorHash
  GET   /drives/{drive-id}/items/{item-id}/content    (verify --deep) the bytes

Throttling: 429 and 503 wait for ``Retry-After``; other 5xx, timeouts and dropped
connections back off exponentially with jitter. Secrets (the private key, the certificate
password, access tokens, the ``tempauth`` in upload-session URLs) are never logged, put in
exceptions or written to the database; a live upload-session URL is kept only in a private
file (mode 0600) under ``work/.store-sessions/`` so a crashed upload can resume.

The parts: :mod:`~s4.store.sharepoint.graph` (certificate, sign-in, the HTTP session,
request/retry/throttling, Graph errors as S4's store errors), :mod:`~s4.store.sharepoint.library`
(site, library, folders, ``s4 store check``), :mod:`~s4.store.sharepoint.upload` (upload
sessions, fragments, resume, name conflicts) and :mod:`~s4.store.sharepoint.items` (list-item
fields, size + quickXorHash and deep SHA-256 checks). :class:`SharePointBackend` composes them
into the store's ``Backend``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from s4.config import SharePointSettings
from s4.store.base import CheckLine, Journal, Outcome, RecordProblem, Upload, VerifyResult
from s4.store.sharepoint.graph import Graph, ItemRejected
from s4.store.sharepoint.items import Items
from s4.store.sharepoint.library import Library
from s4.store.sharepoint.upload import SessionFiles, Uploader

__all__ = ["SharePointBackend"]


class SharePointBackend:
    """The store's ``Backend`` for a SharePoint document library."""

    name = "sharepoint"

    def __init__(self, settings: SharePointSettings, home_root: Path,
                 stop: threading.Event | None = None):
        self.settings = settings
        self.graph = Graph(settings, home_root, stop)
        self.library = Library(settings, self.graph)
        self.items = Items(settings, self.graph, self.library)
        self.uploader = Uploader(settings, self.graph, self.library,
                                 SessionFiles(home_root / "work" / ".store-sessions"))
        self.path_prefix = self.library.path_prefix  # counted in SharePoint's path limit

    def close(self) -> None:
        self.graph.close()

    def open(self) -> None:
        """Resolve the site and library (once)."""
        self.library.open()

    def check(self) -> list[CheckLine]:
        return self.library.check()

    def store(self, upload: Upload, journal: Journal) -> Outcome:
        self.open()
        journal.set(target=upload.relative_path, size=upload.size, sha256=upload.sha256,
                    quickxor=upload.quickxor)
        uploaded = True
        if journal.state in ("pending", "uploading", "conflict"):
            try:
                result = self.uploader.upload(upload, journal)
            except ItemRejected:
                self.library.forget_folders()  # a folder moved or deleted is looked up afresh
                raise
            if isinstance(result, Outcome):
                return result
            item, uploaded = result
            journal.set(state="committed", item_id=item["id"], location=item.get("webUrl"),
                        session=None, offset=upload.size)
        item_id = journal.get("item_id")
        if journal.state == "committed":
            self.items.set_fields(item_id, upload.metadata)
            journal.set(state="fields_set")
        item = self.items.item(item_id)
        result = self.items.check_item(item, upload.size, upload.quickxor)
        if not result.ok:
            where = (item or {}).get("webUrl") or journal.get("location") or upload.relative_path
            return Outcome("conflict", location=where, item_id=item_id,
                           detail=f"the copy in SharePoint at {where} does not match this "
                                  f"record ({result.detail}); it was left there for "
                                  "inspection. After checking, delete or rename it and run "
                                  "`s4 store sync --retry-conflicts`.")
        return Outcome("uploaded" if uploaded else "already_present",
                       location=item.get("webUrl") or journal.get("location") or "",  # type: ignore[union-attr]
                       item_id=item_id, verify_method=result.method)

    def update_metadata(self, doc: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Set the list-item columns again after a decision changed (the file is untouched)."""
        self.open()
        if self.items.item(doc["store_item_id"]) is None:
            raise RecordProblem(f"{doc['id']}: its file is no longer in SharePoint (moved or "
                                f"deleted?); run `s4 store verify {doc['id']}`")
        self.items.set_fields(doc["store_item_id"], metadata)

    def verify(self, doc: dict[str, Any], journal: Journal, deep: bool) -> VerifyResult:
        self.open()
        return self.items.verify(
            doc.get("store_item_id") or journal.get("item_id"),
            size=doc.get("stored_size"),
            quickxor=doc.get("stored_quickxor") or journal.get("quickxor"),
            sha256=doc.get("stored_sha256") or journal.get("sha256"), deep=deep)
