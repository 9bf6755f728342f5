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
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import random
import re
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from s4 import __version__
from s4.config import SharePointSettings
from s4.store.base import (
    CheckLine,
    Journal,
    Outcome,
    RecordProblem,
    StoreError,
    StoreSetupError,
    StoreUnavailable,
    Upload,
    VerifyResult,
    redact_url,
    refs_list,
)

log = logging.getLogger("s4.store.sharepoint")

USER_AGENT = f"ISV|S4|S4/{__version__}"  # Microsoft's decorated form for throttling priority
DATE_FIELDS = {"disposal_due", "document_date"}
HIDDEN_NAME_TRIES = 3  # 409 on create, 404 on look-up, this often: a file S4 cannot see
_SECRET_QUERY = re.compile(r"(tempauth|access_token|code|sig|token)=[^&\s\"']+", re.IGNORECASE)
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9._~+/=-]+")


def scrub(text: str) -> str:
    """Remove anything token-like from a string that might reach a log or a message."""
    return _BEARER.sub(r"\1[redacted]", _SECRET_QUERY.sub(r"\1=[redacted]", text))


class _ScrubSecrets(logging.Filter):
    """urllib3 logs request lines (with upload-session query strings) at DEBUG: scrub them."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(scrub(a) if isinstance(a, str) else a for a in
                                (record.args if isinstance(record.args, tuple)
                                 else (record.args,)))
        if isinstance(record.msg, str):
            record.msg = scrub(record.msg)
        return True


for _name in ("urllib3.connectionpool", "msal", "requests"):
    logging.getLogger(_name).addFilter(_ScrubSecrets())


class GraphError(StoreError):
    def __init__(self, status: int, code: str, message: str, what: str):
        super().__init__(f"{what}: HTTP {status} {code}: {message}")
        self.status, self.code, self.graph_message = status, code, message


class _Interrupted(Exception):
    """A non-idempotent request (an upload fragment) failed in transit: resynchronise."""


# --------------------------------------------------------------------------- HTTP session


class _Session(requests.Session):
    """requests with S4's User-Agent and default timeouts (shared by MSAL and Graph calls)."""

    def __init__(self, connect_timeout: float, read_timeout: float):
        super().__init__()
        self.headers["User-Agent"] = USER_AGENT
        self._timeout = (connect_timeout, read_timeout)

    def request(self, method, url, *args, **kwargs):  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        return super().request(method, url, *args, **kwargs)


# --------------------------------------------------------------------------- certificate


def _pem_blocks(data: bytes, kind: str) -> list[bytes]:
    pattern = rb"-----BEGIN (?:[A-Z ]+ )?" + kind.encode() + rb"-----.+?-----END (?:[A-Z ]+ )?" \
        + kind.encode() + rb"-----"
    return re.findall(pattern, data, flags=re.DOTALL)


def load_certificate(path: Path, password_env: str | None) -> tuple[Any, x509.Certificate]:
    """The private key and certificate from a PEM (both in one file) or PFX/P12 file."""
    hint = ("set store.sharepoint.certificate to the PEM (private key + certificate) or PFX "
            "file made for the app registration")
    password: bytes | None = None
    if password_env:
        value = os.environ.get(password_env)
        if value is None:
            raise StoreSetupError(
                f"the certificate password variable {password_env} is not set",
                f"export {password_env}=… in the service's environment (never in s4.toml)")
        password = value.encode("utf-8")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise StoreSetupError(f"cannot read the certificate file {path}: {exc.strerror}",
                              hint) from None
    try:
        if b"-----BEGIN" in data:
            keys, certs = _pem_blocks(data, "PRIVATE KEY"), _pem_blocks(data, "CERTIFICATE")
            if not keys or not certs:
                raise StoreSetupError(
                    f"{path} must hold both the private key and the certificate (PEM)", hint)
            key = serialization.load_pem_private_key(keys[0], password)
            cert = x509.load_pem_x509_certificate(certs[0])
        else:
            key, cert, _ = pkcs12.load_key_and_certificates(data, password)
    except StoreSetupError:
        raise
    except (ValueError, TypeError):  # wrong or missing password, or not a key file
        raise StoreSetupError(
            f"the certificate file {path} could not be opened: wrong password, or not a "
            "PEM/PFX with a private key",
            f"check the file and the variable named by certificate_password_env"
            f"{f' ({password_env})' if password_env else ''}") from None
    if key is None or cert is None:
        raise StoreSetupError(f"{path} must hold both the private key and the certificate",
                              hint)
    return key, cert


def thumbprint(cert: x509.Certificate) -> str:
    """SHA-1 thumbprint as the Entra portal shows it (not a secret)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # identification only


# --------------------------------------------------------------------------- sign-in


class TokenSource:
    """MSAL client-credentials tokens for Graph, cached by MSAL."""

    def __init__(self, settings: SharePointSettings, session: _Session, home_root: Path):
        self.settings = settings
        self.session = session
        cert_path = settings.certificate or Path("missing.pem")
        self.certificate_path = cert_path if cert_path.is_absolute() else home_root / cert_path
        parts = urlsplit(settings.graph_url)
        self.scope = f"{parts.scheme}://{parts.netloc}/.default"
        self._app: msal.ConfidentialClientApplication | None = None
        self.cert: x509.Certificate | None = None

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is not None:
            return self._app
        key, cert = load_certificate(self.certificate_path,
                                     self.settings.certificate_password_env)
        self.cert = cert
        credential = {
            # In memory only: MSAL signs the client assertion with it.
            "private_key": key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption()).decode("ascii"),
            "public_certificate": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }
        authority = f"{self.settings.authority}/{self.settings.tenant_id}"
        try:
            self._app = msal.ConfidentialClientApplication(
                self.settings.client_id, client_credential=credential, authority=authority,
                http_client=self.session, instance_discovery=False,
                token_cache=msal.TokenCache(), app_name="S4", app_version=__version__,
            )
        except ValueError:
            raise StoreSetupError(
                f"tenant {self.settings.tenant_id!r} was not found at "
                f"{self.settings.authority}",
                "set store.sharepoint.tenant_id to the Directory (tenant) ID shown on the "
                "Entra admin centre's Overview page (a GUID), and check authority for "
                "sovereign clouds") from None
        except requests.RequestException as exc:
            raise StoreUnavailable(f"cannot reach the sign-in service "
                                   f"{self.settings.authority}: {type(exc).__name__}") from None
        return self._app

    def token(self, refresh: bool = False) -> str:
        app = self._application()
        if refresh:
            app.remove_tokens_for_client()
        try:
            result = app.acquire_token_for_client(scopes=[self.scope])
        except requests.RequestException as exc:
            raise StoreUnavailable(f"cannot reach the sign-in service "
                                   f"{self.settings.authority}: {type(exc).__name__}") from None
        except ValueError:  # not JSON: a proxy page or an outage
            raise StoreUnavailable("the sign-in service gave an unreadable answer") from None
        if "access_token" in result:
            return result["access_token"]
        raise self._sign_in_error(result)

    def _sign_in_error(self, result: dict[str, Any]) -> StoreError:
        error = result.get("error", "unknown_error")
        codes = result.get("error_codes") or []
        first_line = scrub((result.get("error_description") or "").splitlines()[0:1][0]
                           if result.get("error_description") else "")
        thumb = thumbprint(self.cert) if self.cert else "?"
        if any(code in (700027, 700024, 7000274, 7000215, 700023) for code in codes) or \
                error == "invalid_client":
            return StoreSetupError(
                f"sign-in refused: the certificate was not accepted ({first_line})",
                f"upload the certificate (public part, .cer/.pem) with thumbprint {thumb} to "
                "the app registration under 'Certificates & secrets', and check client_id")
        if 700016 in codes or error == "unauthorized_client":
            return StoreSetupError(
                f"sign-in refused: no app {self.settings.client_id!r} in this tenant "
                f"({first_line})",
                "set store.sharepoint.client_id to the Application (client) ID of the app "
                "registration, in the same tenant as tenant_id")
        if 90002 in codes or error == "invalid_tenant":
            return StoreSetupError(f"tenant {self.settings.tenant_id!r} not found",
                                   "check store.sharepoint.tenant_id")
        if error in ("temporarily_unavailable", "server_error"):
            return StoreUnavailable(f"the sign-in service is unavailable ({first_line})")
        return StoreSetupError(f"sign-in failed: {error} ({first_line})",
                               "run `s4 store check` and see the README: For council IT")


# --------------------------------------------------------------------------- Graph client


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        with contextlib.suppress(TypeError, ValueError):
            return max(0.0, (parsedate_to_datetime(value) - datetime.now(UTC)).total_seconds())
    return None


class Graph:
    """Graph requests with sign-in, throttling and retry handled."""

    def __init__(self, settings: SharePointSettings, home_root: Path,
                 stop: threading.Event | None = None):
        self.settings = settings
        self.base = settings.graph_url
        self.session = _Session(settings.connect_timeout_seconds, settings.read_timeout_seconds)
        self.tokens = TokenSource(settings, self.session, home_root)
        self.stop = stop or threading.Event()
        self._token: str | None = None

    def close(self) -> None:
        self.session.close()

    def _pause(self, seconds: float) -> None:
        if self.stop.wait(seconds):
            raise StoreUnavailable("stopping")

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.max_backoff_seconds,
                      self.settings.backoff_seconds * 2 ** attempt)
        return random.uniform(ceiling / 2, ceiling)  # jitter, not crypto

    def request(self, method: str, url: str, *, what: str, auth: bool = True,
                idempotent: bool = True, **kwargs: Any) -> requests.Response:
        """Send one request; returns any response below 500 except 401/429 (handled here).

        Raises StoreUnavailable when the service stays down, _Interrupted when a
        non-idempotent request failed in transit (the caller resynchronises)."""
        if not url.startswith("https://"):
            url = self.base + url
        refreshed = False
        problem = ""
        base_headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(self.settings.max_attempts):
            headers = dict(base_headers)
            if auth:
                if self._token is None:
                    self._token = self.tokens.token()
                headers["Authorization"] = f"Bearer {self._token}"
            try:
                response = self.session.request(method, url, headers=headers, **kwargs)
            except (requests.ConnectionError, requests.Timeout) as exc:
                problem = f"{type(exc).__name__} talking to {urlsplit(url).netloc}"
                log.info("%s: %s; backing off", what, problem)
                self._pause(self._backoff(attempt))
                if not idempotent:
                    raise _Interrupted(problem) from None
                continue
            status = response.status_code
            if status == 401 and auth and not refreshed:
                refreshed = True
                self._token = self.tokens.token(refresh=True)
                continue
            if status in (429, 503):
                wait = _retry_after(response)
                problem = f"HTTP {status} (throttled or busy)"
                if wait is not None and wait > self.settings.max_backoff_seconds:
                    raise StoreUnavailable(f"{what}: SharePoint asked S4 to wait {wait:.0f} s",
                                           ) from None
                log.info("%s: HTTP %s, waiting %.1f s", what, status,
                         wait if wait is not None else -1)
                self._pause(wait if wait is not None else self._backoff(attempt))
                continue
            if status >= 500:
                problem = f"HTTP {status}"
                log.info("%s: HTTP %s; backing off", what, status)
                self._pause(self._backoff(attempt))
                if not idempotent:
                    raise _Interrupted(problem)
                continue
            return response
        raise StoreUnavailable(f"{what}: SharePoint did not answer after "
                               f"{self.settings.max_attempts} attempts ({problem})")

    def json(self, method: str, url: str, *, what: str, ok: tuple[int, ...] = (200, 201),
             **kwargs: Any) -> dict[str, Any]:
        response = self.request(method, url, what=what, **kwargs)
        if response.status_code not in ok:
            raise graph_error(response, what)
        return response.json() if response.content else {}


class ItemRejected(GraphError, RecordProblem):
    """SharePoint refused one record's item (its name, path, size or field values, or the
    item is locked): that record is quarantined with the reason; the others go on."""


# Answers about one item that say nothing about the store as a whole.
ITEM_STATUSES = {400, 404, 409, 411, 413, 414, 415, 422, 423}


def graph_error(response: requests.Response, what: str, item: bool = False) -> GraphError:
    """A GraphError; for a request about one record's item (``item``), an answer in
    ITEM_STATUSES becomes ItemRejected so it does not hold back the queue."""
    try:
        error = response.json().get("error") or {}
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        code, message = "", response.text[:200]
    kind = ItemRejected if item and response.status_code in ITEM_STATUSES else GraphError
    return kind(response.status_code, code, scrub(message), what)


# --------------------------------------------------------------------------- the backend


class SharePointBackend:
    name = "sharepoint"

    def __init__(self, settings: SharePointSettings, home_root: Path,
                 stop: threading.Event | None = None):
        self.settings = settings
        self.graph = Graph(settings, home_root, stop)
        self.sessions = home_root / "work" / ".store-sessions"
        self.site: dict[str, Any] | None = None
        self.drive: dict[str, Any] | None = None
        self.root_id: str | None = None
        self._folders: dict[str, str] = {}
        host, _, site_path = settings.site.partition(":")
        self.path_prefix = f"https://{host}{site_path}/{settings.library}/"

    def close(self) -> None:
        self.graph.close()

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
    def _drive(self) -> str:
        return f"/drives/{self.drive['id']}"  # type: ignore[index]

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
                 ("library", self._check_library), ("columns", self._check_columns))
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
        self.graph._token = self.graph.tokens.token()
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

    def _check_columns(self) -> str:
        wanted = {c for c in self.settings.columns.values() if c}
        found = self.graph.json("GET", f"{self._drive}/list/columns", what="list columns")
        names = {c.get("name") for c in found.get("value", [])}
        missing = sorted(wanted - names)
        return f"missing: {', '.join(missing)}" if missing else \
            f"all {len(wanted)} mapped columns exist"

    # ---------------------------------------------------------------- folders and items

    def _child_url(self, parent_id: str, name: str) -> str:
        return f"{self._drive}/items/{parent_id}:/{quote(name, safe='')}"

    def _child(self, parent_id: str, name: str, what: str) -> dict[str, Any] | None:
        response = self.graph.request("GET", self._child_url(parent_id, name), what=what)
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise graph_error(response, what, item=True)
        return response.json()

    def _ensure_folder(self, folders: list[str]) -> str:
        parent = self.root_id
        path = ""
        for name in folders:
            path = f"{path}/{name}"
            if path in self._folders:
                parent = self._folders[path]
                continue
            item = self._child(parent, name, "look up folder")  # type: ignore[arg-type]
            if item is None:
                response = self.graph.request(
                    "POST", f"{self._drive}/items/{parent}/children", what="create folder",
                    json={"name": name, "folder": {},
                          "@microsoft.graph.conflictBehavior": "fail"})
                if response.status_code == 409:  # created meanwhile by someone else
                    item = self._child(parent, name, "look up folder")  # type: ignore[arg-type]
                elif response.status_code in (200, 201):
                    item = response.json()
                elif response.status_code == 403:
                    raise self._forbidden("create folder")
                else:
                    raise graph_error(response, "create folder", item=True)
            if item is None or "folder" not in item:
                raise RecordProblem(f"{path.lstrip('/')} exists in the library but is not a "
                                    "folder; rename it or change the folder template")
            parent = self._folders[path] = item["id"]
        return parent  # type: ignore[return-value]

    def _forbidden(self, what: str) -> StoreSetupError:
        return StoreSetupError(
            f"{what}: the app may read but not write on {self.settings.site} (HTTP 403)",
            "the site grant must have the 'write' role: POST /sites/{site-id}/permissions "
            "with roles ['write'] (see the README: For council IT)")

    # ---------------------------------------------------------------- upload sessions

    def _session_file(self, doc_id: str) -> Path:
        return self.sessions / f"{doc_id}.url"

    def _save_session(self, doc_id: str, url: str) -> None:
        self.sessions.mkdir(parents=True, exist_ok=True)
        target = self._session_file(doc_id)
        temporary = target.with_suffix(".part")
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(url)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, target)

    def _load_session(self, doc_id: str) -> str | None:
        try:
            return self._session_file(doc_id).read_text().strip() or None
        except FileNotFoundError:
            return None

    def _forget_session(self, doc_id: str, url: str | None, cancel: bool) -> None:
        if url and cancel:
            with contextlib.suppress(StoreError, _Interrupted):
                self.graph.request("DELETE", url, what="cancel upload session", auth=False)
        with contextlib.suppress(FileNotFoundError):
            self._session_file(doc_id).unlink()

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
            "POST", f"{self._child_url(parent_id, upload.name)}:/createUploadSession",
            what="create upload session",
            json={"item": {"@microsoft.graph.conflictBehavior": "fail", "name": upload.name}})
        if response.status_code == 409:
            return None
        if response.status_code == 403:
            raise self._forbidden("create upload session")
        if response.status_code != 200:
            raise graph_error(response, "create upload session", item=True)
        return response.json()["uploadUrl"]

    def _compare(self, item: dict[str, Any], upload: Upload) -> bool:
        remote = ((item.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        return item.get("size") == upload.size and remote == upload.quickxor

    def _conflict(self, item: dict[str, Any], upload: Upload) -> Outcome:
        where = item.get("webUrl") or f"{self.path_prefix}{upload.relative_path}"
        return Outcome(
            "conflict", location=where, item_id=item.get("id", ""),
            detail=(f"a different file named {upload.name!r} is already in SharePoint at "
                    f"{where} (size {item.get('size')} bytes, this record's PDF is "
                    f"{upload.size}; the hashes differ). S4 never overwrites. Check which is "
                    "right, move or rename the other file in SharePoint, then run "
                    "`s4 store sync --retry-conflicts`."))

    def _hidden_conflict(self, upload: Upload) -> Outcome:
        where = f"{self.path_prefix}{upload.relative_path}"
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

    def _upload(self, upload: Upload, journal: Journal) -> tuple[dict[str, Any], bool] | Outcome:
        """Put the bytes in place. Returns (driveItem, uploaded?) or a conflict Outcome."""
        doc_id = upload.doc_id
        parent = self._ensure_folder(upload.folder)
        url = self._load_session(doc_id) if journal.state == "uploading" else None
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
                    existing = self._child(parent, upload.name, "look for existing file")
                    if existing is not None:
                        if self._compare(existing, upload):
                            return existing, journal.state == "uploading"
                        return self._conflict(existing, upload)
                    url = self._create_session(parent, upload)
                    if url is None:  # taken, yet not found when looked up just before
                        hidden += 1  # a race with someone else, or a file the app cannot see
                        if hidden >= HIDDEN_NAME_TRIES:
                            return self._hidden_conflict(upload)
                        self.graph._pause(self.graph._backoff(hidden))
                        continue
                    self._save_session(doc_id, url)
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

    def _send(self, handle, url: str, offset: int, upload: Upload,
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
            except _Interrupted:
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

    # ---------------------------------------------------------------- fields and verify

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

    def update_metadata(self, doc: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Set the list-item columns again after a decision changed (the file is untouched)."""
        self.open()
        if self._item(doc["store_item_id"]) is None:
            raise RecordProblem(f"{doc['id']}: its file is no longer in SharePoint (moved or "
                                f"deleted?); run `s4 store verify {doc['id']}`")
        self._set_fields(doc["store_item_id"], metadata)

    def _set_fields(self, item_id: str, metadata: dict[str, Any]) -> None:
        fields = self._fields(metadata)
        if not fields:
            return
        response = self.graph.request("PATCH", f"{self._drive}/items/{item_id}/listItem/fields",
                                      what="set columns", json=fields)
        if response.status_code == 400:
            error = graph_error(response, "set columns")
            missing = self._check_columns()
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
            raise self._forbidden("set columns")
        if response.status_code != 200:
            raise graph_error(response, "set columns", item=True)

    def _item(self, item_id: str) -> dict[str, Any] | None:
        response = self.graph.request("GET", f"{self._drive}/items/{item_id}",
                                      what="read file details")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise graph_error(response, "read file details")
        return response.json()

    def _check_item(self, item: dict[str, Any] | None, size: int | None,
                    quickxor: str | None) -> VerifyResult:
        method = "size+quickXorHash"
        if item is None:
            return VerifyResult(False, method, "the file is no longer in SharePoint")
        remote = ((item.get("file") or {}).get("hashes") or {}).get("quickXorHash")
        if item.get("size") != size:
            return VerifyResult(False, method, f"size {item.get('size')}, expected {size}")
        if remote != quickxor:
            return VerifyResult(False, method, f"quickXorHash {remote}, expected {quickxor}")
        return VerifyResult(True, method)

    def store(self, upload: Upload, journal: Journal) -> Outcome:
        self.open()
        journal.set(target=upload.relative_path, size=upload.size, sha256=upload.sha256,
                    quickxor=upload.quickxor)
        uploaded = True
        if journal.state in ("pending", "uploading", "conflict"):
            try:
                result = self._upload(upload, journal)
            except ItemRejected:
                self._folders.clear()  # a folder moved or deleted is looked up afresh
                raise
            if isinstance(result, Outcome):
                return result
            item, uploaded = result
            journal.set(state="committed", item_id=item["id"], location=item.get("webUrl"),
                        session=None, offset=upload.size)
        item_id = journal.get("item_id")
        if journal.state == "committed":
            self._set_fields(item_id, upload.metadata)
            journal.set(state="fields_set")
        item = self._item(item_id)
        result = self._check_item(item, upload.size, upload.quickxor)
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

    def verify(self, doc: dict[str, Any], journal: Journal, deep: bool) -> VerifyResult:
        self.open()
        item_id = doc.get("store_item_id") or journal.get("item_id")
        result = self._check_item(self._item(item_id), doc.get("stored_size"),
                                  doc.get("stored_quickxor") or journal.get("quickxor"))
        if not result.ok or not deep:
            return result
        response = self.graph.request("GET", f"{self._drive}/items/{item_id}/content",
                                      what="download for deep check", stream=True)
        if response.status_code != 200:
            raise graph_error(response, "download for deep check")
        digest = hashlib.sha256()
        for block in response.iter_content(1024 * 1024):
            digest.update(block)
        expected = doc.get("stored_sha256") or journal.get("sha256")
        if digest.hexdigest() != expected:
            return VerifyResult(False, "sha256 (downloaded)",
                                f"SHA-256 {digest.hexdigest()[:12]}…, expected "
                                f"{(expected or '')[:12]}…")
        return VerifyResult(True, "size+quickXorHash+sha256 (downloaded)")


def _range_start(ranges: list[str]) -> int | None:
    if not ranges:
        return None
    match = re.match(r"\s*(\d+)", ranges[0])
    return int(match.group(1)) if match else None
