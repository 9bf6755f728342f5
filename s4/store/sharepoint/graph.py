"""The Microsoft Graph client S4's SharePoint store talks through.

Sign-in: MSAL ``ConfidentialClientApplication``, client-credentials flow, certificate
credential (PEM with key, or PFX; its password comes from an environment variable). Tokens
are cached by MSAL; after a 401 from Graph the cached token is dropped and the request is
tried once more.

Throttling: 429 and 503 wait for ``Retry-After``; other 5xx, timeouts and dropped
connections back off exponentially with jitter. Graph's answers become S4's store errors
here (:func:`graph_error`); anything token-like is scrubbed from messages and from the
logs of urllib3, MSAL and requests.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import threading
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msal
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from s4 import __version__
from s4.config import SharePointSettings
from s4.store.base import RecordProblem, StoreError, StoreSetupError, StoreUnavailable

log = logging.getLogger("s4.store.sharepoint")

USER_AGENT = f"ISV|S4|S4/{__version__}"  # Microsoft's decorated form for throttling priority
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


class Interrupted(Exception):
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

    def sign_in(self) -> None:
        """Get a token now (``s4 store check``), so a sign-in problem is reported as such."""
        self._token = self.tokens.token()

    def pause(self, seconds: float) -> None:
        """Wait, unless S4 is stopping (then StoreUnavailable: the journal resumes it)."""
        if self.stop.wait(seconds):
            raise StoreUnavailable("stopping")

    def backoff(self, attempt: int) -> float:
        """Seconds to wait before try ``attempt`` + 1: exponential, capped, with jitter."""
        ceiling = min(self.settings.max_backoff_seconds,
                      self.settings.backoff_seconds * 2 ** attempt)
        return random.uniform(ceiling / 2, ceiling)  # jitter, not crypto

    def request(self, method: str, url: str, *, what: str, auth: bool = True,
                idempotent: bool = True, **kwargs: Any) -> requests.Response:
        """Send one request; returns any response below 500 except 401/429 (handled here).

        Raises StoreUnavailable when the service stays down, Interrupted when a
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
                self.pause(self.backoff(attempt))
                if not idempotent:
                    raise Interrupted(problem) from None
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
                self.pause(wait if wait is not None else self.backoff(attempt))
                continue
            if status >= 500:
                problem = f"HTTP {status}"
                log.info("%s: HTTP %s; backing off", what, status)
                self.pause(self.backoff(attempt))
                if not idempotent:
                    raise Interrupted(problem)
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


def forbidden(what: str, site: str) -> StoreSetupError:
    """HTTP 403 on a write: the site grant lacks the 'write' role."""
    return StoreSetupError(
        f"{what}: the app may read but not write on {site} (HTTP 403)",
        "the site grant must have the 'write' role: POST /sites/{site-id}/permissions "
        "with roles ['write'] (see the README: For council IT)")
