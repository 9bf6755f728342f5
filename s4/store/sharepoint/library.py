"""The SharePoint site and document library S4 stores into: finding them, their folders, and
the checks ``s4 store check`` runs on them (certificate, sign-in, site, library, columns)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from s4.config import SharePointSettings
from s4.store.base import CheckLine, RecordProblem, StoreError, StoreSetupError
from s4.store.sharepoint.graph import Graph, forbidden, graph_error, load_certificate, thumbprint


class Library:
    """The configured library (a Graph drive) on the configured site, resolved once."""

    def __init__(self, settings: SharePointSettings, graph: Graph):
        self.settings = settings
        self.graph = graph
        self.site: dict[str, Any] | None = None
        self.drive: dict[str, Any] | None = None
        self.root_id: str | None = None
        self._folders: dict[str, str] = {}
        host, _, site_path = settings.site.partition(":")
        self.path_prefix = f"https://{host}{site_path}/{settings.library}/"

    # ---------------------------------------------------------------- site and library

    def _site_url(self) -> str:
        host, _, path = self.settings.site.partition(":")
        return f"/sites/{host}:{quote(path)}" if path else f"/sites/{host}"

    def open(self) -> None:
        if self.drive is not None:
            return
        response = self.graph.request("GET", self._site_url(), what="resolve site")
        if response.status_code == 403:
            raise StoreSetupError(
                f"the app has no permission on the site {self.settings.site} (HTTP 403)",
                "a SharePoint or Global administrator must grant the app 'write' on this "
                "site: POST /sites/{site-id}/permissions (see the README: For council IT); "
                "also check admin consent for Sites.Selected")
        if response.status_code == 404:
            raise StoreSetupError(f"site {self.settings.site} not found (HTTP 404)",
                                  "check store.sharepoint.site: 'host:/sites/name'")
        if response.status_code != 200:
            raise graph_error(response, "resolve site")
        self.site = response.json()
        drives = self.graph.json("GET", f"/sites/{self.site['id']}/drives",
                                 what="list libraries")
        names = [d.get("name", "") for d in drives.get("value", [])]
        wanted = self.settings.library.casefold()
        for drive in drives.get("value", []):
            web_tail = (drive.get("webUrl") or "").rstrip("/").rsplit("/", 1)[-1]
            if wanted in (drive.get("name", "").casefold(), web_tail.casefold()):
                self.drive = drive
                break
        else:
            raise StoreSetupError(
                f"library {self.settings.library!r} not found on {self.settings.site} "
                f"(libraries there: {', '.join(names) or 'none visible'})",
                "set store.sharepoint.library to one of those names, or create the library")
        root = self.graph.json("GET", f"/drives/{self.drive['id']}/root", what="library root")
        self.root_id = root["id"]

    @property
    def drive_path(self) -> str:
        """``/drives/{drive-id}``, the start of every item URL (after :meth:`open`)."""
        return f"/drives/{self.drive['id']}"  # type: ignore[index]

    def forbidden(self, what: str) -> StoreSetupError:
        return forbidden(what, self.settings.site)

    # ---------------------------------------------------------------- check

    def check(self) -> list[CheckLine]:
        lines: list[CheckLine] = []
        try:
            key, cert = load_certificate(self.graph.tokens.certificate_path,
                                         self.settings.certificate_password_env)
        except StoreSetupError as exc:
            return [CheckLine("certificate", False, str(exc), exc.hint)]
        del key
        days = (cert.not_valid_after_utc - datetime.now(UTC)).days
        lines.append(CheckLine(
            "certificate", days > 0,
            f"{self.graph.tokens.certificate_path}: thumbprint {thumbprint(cert)}, "
            + (f"valid for {days} more days" if days > 0 else "EXPIRED"),
            "" if days > 0 else "make a new certificate and upload it to the app registration"))
        steps = (("sign-in", self._check_sign_in), ("site", self._check_site),
                 ("library", self._check_library), ("columns", self.check_columns))
        for step, action in steps:
            try:
                detail = action()
            except StoreSetupError as exc:
                lines.append(CheckLine(step, False, str(exc), exc.hint))
                break
            except StoreError as exc:
                lines.append(CheckLine(step, False, str(exc),
                                       "check the network path to Microsoft 365 (proxy, "
                                       "firewall) and try again"))
                break
            lines.append(CheckLine(step, not detail.startswith("missing"), detail,
                                   "" if not detail.startswith("missing") else
                                   "add these columns to the library (Library settings → "
                                   "Create column), or map/skip them in "
                                   "[store.sharepoint.columns]"))
        return lines

    def _check_sign_in(self) -> str:
        self.graph.sign_in()
        return (f"signed in to tenant {self.settings.tenant_id} as app "
                f"{self.settings.client_id}")

    def _check_site(self) -> str:
        try:
            self.open()
        except StoreSetupError as exc:
            if "library" in str(exc):
                return f"{self.settings.site} ({(self.site or {}).get('webUrl', '')})"
            raise
        return f"{self.site.get('displayName', '')} <{self.site.get('webUrl', '')}>"  # type: ignore[union-attr]

    def _check_library(self) -> str:
        self.open()
        return f"{self.drive.get('name')} <{self.drive.get('webUrl', '')}>"  # type: ignore[union-attr]

    def check_columns(self) -> str:
        """``missing: A, B`` or ``all N mapped columns exist``."""
        wanted = {c for c in self.settings.columns.values() if c}
        found = self.graph.json("GET", f"{self.drive_path}/list/columns", what="list columns")
        names = {c.get("name") for c in found.get("value", [])}
        missing = sorted(wanted - names)
        return f"missing: {', '.join(missing)}" if missing else \
            f"all {len(wanted)} mapped columns exist"

    # ---------------------------------------------------------------- folders and items

    def child_url(self, parent_id: str, name: str) -> str:
        return f"{self.drive_path}/items/{parent_id}:/{quote(name, safe='')}"

    def child(self, parent_id: str, name: str, what: str) -> dict[str, Any] | None:
        """The item called ``name`` in folder ``parent_id``, or None if there is none."""
        response = self.graph.request("GET", self.child_url(parent_id, name), what=what)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise graph_error(response, what, item=True)
        return response.json()

    def ensure_folder(self, folders: list[str]) -> str:
        """The id of the folder path ``folders`` (top first), created where missing."""
        parent = self.root_id
        path = ""
        for name in folders:
            path = f"{path}/{name}"
            if path in self._folders:
                parent = self._folders[path]
                continue
            item = self.child(parent, name, "look up folder")  # type: ignore[arg-type]
            if item is None:
                response = self.graph.request(
                    "POST", f"{self.drive_path}/items/{parent}/children", what="create folder",
                    json={"name": name, "folder": {},
                          "@microsoft.graph.conflictBehavior": "fail"})
                if response.status_code == 409:  # created meanwhile by someone else
                    item = self.child(parent, name, "look up folder")  # type: ignore[arg-type]
                elif response.status_code in (200, 201):
                    item = response.json()
                elif response.status_code == 403:
                    raise self.forbidden("create folder")
                else:
                    raise graph_error(response, "create folder", item=True)
            if item is None or "folder" not in item:
                raise RecordProblem(f"{path.lstrip('/')} exists in the library but is not a "
                                    "folder; rename it or change the folder template")
            parent = self._folders[path] = item["id"]
        return parent  # type: ignore[return-value]

    def forget_folders(self) -> None:
        """A folder moved or deleted is looked up afresh next time."""
        self._folders.clear()
