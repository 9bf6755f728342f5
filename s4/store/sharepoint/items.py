"""A stored record's item in the library: its list-item fields (S4's columns) and the checks
that it still holds this record (size + quickXorHash, or a downloaded SHA-256)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from s4.config import SharePointSettings
from s4.store.base import StoreSetupError, VerifyResult, refs_list
from s4.store.sharepoint.graph import Graph, ItemRejected, graph_error
from s4.store.sharepoint.library import Library

DATE_FIELDS = {"disposal_due", "document_date"}


class Items:
    """Read, label and check items in the library."""

    def __init__(self, settings: SharePointSettings, graph: Graph, library: Library):
        self.settings = settings
        self.graph = graph
        self.library = library

    def _fields(self, metadata: dict[str, Any]) -> dict[str, Any]:
        fields: dict[str, Any] = {}
        for key, column in self.settings.columns.items():
            value = metadata.get(key)
            if not column or value in (None, "", []):
                continue
            if key == "refs":
                value = "; ".join(refs_list(value))
            elif key in DATE_FIELDS and re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
                value = f"{value}T00:00:00Z"
            fields[column] = value
        return fields

    def set_fields(self, item_id: str, metadata: dict[str, Any]) -> None:
        """Write the record's metadata into the mapped columns of its list item."""
        fields = self._fields(metadata)
        if not fields:
            return
        response = self.graph.request(
            "PATCH", f"{self.library.drive_path}/items/{item_id}/listItem/fields",
            what="set columns", json=fields)
        if response.status_code == 400:
            error = graph_error(response, "set columns")
            missing = self.library.check_columns()
            if missing.startswith("missing"):  # the library, not this record: stop the queue
                raise StoreSetupError(
                    f"the library refused S4's columns: {error.graph_message} ({missing})",
                    "create the columns (see the README: For council IT) or change "
                    "[store.sharepoint.columns]; `s4 store check` lists what is missing")
            raise ItemRejected(400, error.code, (
                f"SharePoint refused this record's column values ({error.graph_message}); "
                "the file itself is in place. Check the values `s4 show` lists against the "
                "columns' types and lengths, correct the record (`s4 review set`) or the "
                "column, then run `s4 store sync --retry-conflicts`"), "set columns")
        if response.status_code == 403:
            raise self.library.forbidden("set columns")
        if response.status_code != 200:
            raise graph_error(response, "set columns", item=True)

    def item(self, item_id: str) -> dict[str, Any] | None:
        """The driveItem, or None when it is no longer there."""
        response = self.graph.request("GET", f"{self.library.drive_path}/items/{item_id}",
                                      what="read file details")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise graph_error(response, "read file details")
        return response.json()

    @staticmethod
    def check_item(item: dict[str, Any] | None, size: int | None,
                   quickxor: str | None) -> VerifyResult:
        """Whether ``item`` has the record's size and quickXorHash."""
        method = "size+quickXorHash"
        if item is None:
            return VerifyResult(False, method, "the file is no longer in SharePoint")
        remote = ((item.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        if item.get("size") != size:
            return VerifyResult(False, method, f"size {item.get('size')}, expected {size}")
        if remote != quickxor:
            return VerifyResult(False, method, f"quickXorHash {remote}, expected {quickxor}")
        return VerifyResult(True, method)

    def verify(self, item_id: str, size: int | None, quickxor: str | None,
               sha256: str | None, deep: bool) -> VerifyResult:
        """Size + quickXorHash; with ``deep``, also download the bytes and compare SHA-256."""
        result = self.check_item(self.item(item_id), size, quickxor)
        if not result.ok or not deep:
            return result
        response = self.graph.request("GET", f"{self.library.drive_path}/items/{item_id}/content",
                                      what="download for deep check", stream=True)
        if response.status_code != 200:
            raise graph_error(response, "download for deep check")
        digest = hashlib.sha256()
        for block in response.iter_content(1024 * 1024):
            digest.update(block)
        if digest.hexdigest() != sha256:
            return VerifyResult(False, "sha256 (downloaded)",
                                f"SHA-256 {digest.hexdigest()[:12]}…, expected "
                                f"{(sha256 or '')[:12]}…")
        return VerifyResult(True, "size+quickXorHash+sha256 (downloaded)")
