"""A loopback fake of exactly the Entra token and Microsoft Graph calls S4 makes.

Real HTTPS on 127.0.0.1 (a throw-away CA made by ``trustme``; tests trust it through
``REQUESTS_CA_BUNDLE``), so MSAL's real token request and S4's real Graph client run
unchanged. It keeps state — tenants, app registrations and their certificates, sites and
their per-app grants, drives (libraries) with columns, folders, files with list-item fields,
upload sessions — and injects faults on demand (:meth:`FakeGraph.fault`).

Where the fake has to guess at Graph's behaviour, the guess is marked ``GUESS:``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
import socket
import ssl
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import jwt
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes

from tests.quickxor_reference import quickxor_reference

FRAGMENT_UNIT = 320 * 1024
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


@dataclass
class Fault:
    """Applied to the next ``times`` requests whose method and path match."""

    method: str
    path: str  # regex searched in the URL path (no query)
    action: str  # status | drop | slow | expire_tokens | hold | race
    times: int = 1
    after: int = 0  # let this many matching requests through first
    status: int = 503
    retry_after: float | None = None
    delay: float = 0.0
    body: dict | None = None
    reached: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    hits: int = 0


class FakeGraph:
    def __init__(self, workdir: Path):
        self.ca = trustme.CA()
        self.ca_path = workdir / "fake-ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_path))
        self.lock = threading.RLock()
        self.tenants: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.issued_tokens: list[str] = []
        self.assertions: list[dict[str, Any]] = []
        self.sites: dict[str, dict[str, Any]] = {}
        self.drives: dict[str, dict[str, Any]] = {}
        self.items: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.session_secrets: list[str] = []
        self.faults: list[Fault] = []
        self.log: list[dict[str, Any]] = []
        self.server: ThreadingHTTPServer | None = None
        self.base_settings = ""  # for tests: s4.toml before its [store] part

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> FakeGraph:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = True
        server.socket = context.wrap_socket(server.socket, server_side=True,
                                            do_handshake_on_connect=False)
        server.fake = self  # type: ignore[attr-defined]
        self.server = server
        self.base = f"https://127.0.0.1:{server.server_address[1]}"
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                         daemon=True).start()
        return self

    def stop(self) -> None:
        for fault in self.faults:
            fault.release.set()
        if self.server:
            self.server.shutdown()
            self.server.server_close()

    # ---------------------------------------------------------------- set-up

    def add_app(self, tenant: str, client_id: str, cert: x509.Certificate | None) -> None:
        with self.lock:
            apps = self.tenants.setdefault(tenant, {"apps": {}})["apps"]
            app = apps.setdefault(client_id, {"certs": {}})
            if cert is not None:
                app["certs"][_b64url(cert.fingerprint(hashes.SHA256()))] = cert
                app["certs"][_b64url(cert.fingerprint(hashes.SHA1()))] = cert

    def add_site(self, site: str, grants: dict[str, str], libraries: dict[str, set[str]],
                 ) -> dict[str, Any]:
        host, _, path = site.partition(":")
        site_id = f"{host},{uuid.uuid4()},{uuid.uuid4()}"
        record = {"id": site_id, "key": site, "displayName": path.rsplit("/", 1)[-1].title(),
                  "webUrl": f"https://{host}{path}", "grants": grants, "drives": []}
        for name, columns in libraries.items():
            drive_id = "b!" + secrets.token_urlsafe(12)
            root = self._new_item(drive_id, None, "root", folder=True)
            self.drives[drive_id] = {"id": drive_id, "name": name, "site": site_id,
                                     "webUrl": f"{record['webUrl']}/{quote(name)}",
                                     "root": root["id"], "columns": set(columns)}
            record["drives"].append(drive_id)
        self.sites[site] = record
        return record

    def fault(self, method: str, path: str, action: str, **kwargs: Any) -> Fault:
        fault = Fault(method, path, action, **kwargs)
        with self.lock:
            self.faults.append(fault)
        return fault

    # ---------------------------------------------------------------- inspection

    def files(self) -> list[dict[str, Any]]:
        with self.lock:
            return [i for i in self.items.values() if not i["folder"]]

    def path_of(self, item: dict[str, Any]) -> str:
        parts = []
        while item["parent"] is not None:
            parts.append(item["name"])
            item = self.items[item["parent"]]
        return "/".join(reversed(parts))

    def requests(self, method: str | None = None, path: str = "") -> list[dict[str, Any]]:
        with self.lock:
            return [e for e in self.log if (method is None or e["method"] == method)
                    and re.search(path, e["path"])]

    # ---------------------------------------------------------------- state helpers

    def _new_item(self, drive_id: str, parent: str | None, name: str, folder: bool,
                  content: bytes = b"") -> dict[str, Any]:
        item = {"id": "01" + secrets.token_hex(8).upper(), "drive": drive_id, "parent": parent,
                "name": name, "folder": folder, "content": content, "fields": {},
                "created": time.time()}
        self.items[item["id"]] = item
        return item

    def _child(self, parent: str, name: str) -> dict[str, Any] | None:
        # SharePoint names are case-insensitive.
        for item in self.items.values():
            if item["parent"] == parent and item["name"].casefold() == name.casefold():
                return item
        return None

    def item_json(self, item: dict[str, Any]) -> dict[str, Any]:
        drive = self.drives[item["drive"]]
        path = self.path_of(item)
        body: dict[str, Any] = {
            "id": item["id"], "name": item["name"],
            "webUrl": drive["webUrl"] + ("/" + quote(path) if path else ""),
            "parentReference": {"driveId": item["drive"], "id": item["parent"]},
        }
        if item["folder"]:
            body["folder"] = {"childCount": sum(1 for i in self.items.values()
                                                if i["parent"] == item["id"])}
            body["size"] = 0
        else:
            body["size"] = len(item["content"])
            body["file"] = {"mimeType": "application/pdf",
                            "hashes": {"quickXorHash": quickxor_reference(item["content"])}}
        return body


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, Any]]:
    return status, {"error": {"code": code, "message": message}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "FakeGraph/1.0"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    @property
    def fake(self) -> FakeGraph:
        return self.server.fake  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # ---------------------------------------------------------------- plumbing

    def _body(self, limit: int | None = None) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length if limit is None else min(limit, length))

    def _send(self, status: int, body: Any = None, headers: dict[str, str] | None = None
              ) -> None:
        data = b"" if body is None else (body if isinstance(body, bytes)
                                         else json.dumps(body).encode())
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        if body is not None and not isinstance(body, bytes):
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
        self.wfile.flush()

    def _handle(self, method: str) -> None:
        fake = self.fake
        url = urlsplit(self.path)
        entry = {"t": time.monotonic(), "method": method, "path": url.path,
                 "range": self.headers.get("Content-Range"),
                 "auth": "Authorization" in self.headers,
                 "user_agent": self.headers.get("User-Agent"), "status": None}
        with fake.lock:
            fake.log.append(entry)
            fault = None
            for candidate in fake.faults:
                if candidate.times > 0 and candidate.method == method and \
                        re.search(candidate.path, url.path):
                    if candidate.after > 0:
                        candidate.after -= 1
                        continue
                    fault = candidate
                    break
            if fault:
                fault.times -= 1
                fault.hits += 1
        if fault and fault.action == "status":
            self._body()
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = f"{fault.retry_after:g}"
            entry["status"] = fault.status
            self._send(fault.status, fault.body or {"error": {
                "code": "activityLimitReached" if fault.status == 429 else "serviceNotAvailable",
                "message": "injected fault"}}, headers)
            return
        if fault and fault.action == "drop":
            self._body(limit=int(self.headers.get("Content-Length") or 0) // 2)
            entry["status"] = "dropped"
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        if fault and fault.action == "slow":
            threading.Event().wait(fault.delay)  # server-side latency, not test synchronisation
        if fault and fault.action == "expire_tokens":
            with fake.lock:
                for token in fake.tokens.values():
                    token["expires"] = 0.0
        body = self._body()
        with fake.lock:
            status, payload, headers = self._route(method, url.path, parse_qs(url.query), body)
        if fault and fault.action == "race":  # it happened, but as if someone else did it
            # first: the caller is told the name is taken.
            status, payload = _error(409, "nameAlreadyExists",
                                     "The specified item name already exists.")
            headers = {}
        entry["status"] = status
        if fault and fault.action == "hold":  # the work is done; the answer is held back
            fault.reached.set()
            fault.release.wait(30)
        try:
            self._send(status, payload, headers)
        except OSError:
            self.close_connection = True

    # ---------------------------------------------------------------- routes

    def _route(self, method: str, path: str, query: dict[str, list[str]], body: bytes,
               ) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        match = re.fullmatch(r"/([^/]+)/v2\.0/\.well-known/openid-configuration", path)
        if match and method == "GET":
            return (*self._openid(match.group(1)), {})
        match = re.fullmatch(r"/([^/]+)/oauth2/v2\.0/token", path)
        if match and method == "POST":
            return (*self._token(match.group(1), body), {})
        match = re.fullmatch(r"/upload/([^/]+)", path)
        if match:
            return (*self._upload(method, match.group(1), query, body), {})
        match = re.fullmatch(r"/download/([^/]+)", path)
        if match and method == "GET":
            item = fake.items.get(match.group(1))
            if item is None or query.get("sig", [""])[0] != item.get("sig"):
                return 404, None, {}
            return 200, item["content"], {"Content-Type": "application/pdf"}
        if path.startswith("/v1.0/"):
            return self._graph(method, path[len("/v1.0"):], body)
        return (*_error(404, "notFound", f"no route {path}"), {})

    def _openid(self, tenant: str) -> tuple[int, Any]:
        if tenant not in self.fake.tenants:
            return 400, {"error": "invalid_tenant", "error_codes": [90002],
                         "error_description": f"AADSTS90002: Tenant '{tenant}' not found."}
        base = f"{self.fake.base}/{tenant}"
        return 200, {"issuer": f"{base}/v2.0",
                     "token_endpoint": f"{base}/oauth2/v2.0/token",
                     "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                     "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode"}

    def _token(self, tenant: str, body: bytes) -> tuple[int, Any]:
        fake = self.fake
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}

        def refuse(status: int, error: str, code: int, text: str) -> tuple[int, Any]:
            return status, {"error": error, "error_codes": [code],
                            "error_description": f"AADSTS{code}: {text}"}

        if tenant not in fake.tenants:
            return refuse(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials" or \
                not form.get("scope", "").endswith("/.default"):
            return refuse(400, "invalid_request", 90014, "client credentials with /.default")
        app = fake.tenants[tenant]["apps"].get(form.get("client_id", ""))
        if app is None:
            return refuse(400, "unauthorized_client", 700016,
                          f"Application with identifier '{form.get('client_id')}' was not "
                          "found in the directory.")
        assertion = form.get("client_assertion", "")
        if form.get("client_assertion_type") != ASSERTION_TYPE or not assertion:
            return refuse(401, "invalid_client", 7000216, "client_assertion is required.")
        try:
            header = jwt.get_unverified_header(assertion)
        except jwt.PyJWTError:
            return refuse(401, "invalid_client", 700027, "Client assertion is malformed.")
        thumb = header.get("x5t#S256") or header.get("x5t") or ""
        cert = app["certs"].get(thumb.rstrip("="))  # MSAL keeps base64 padding; fine for Entra
        if header.get("alg") not in ("RS256", "PS256") or cert is None:
            return refuse(401, "invalid_client", 700027,
                          "Client assertion failed signature validation: the certificate "
                          "used to sign it is not registered on the application.")
        endpoint = f"{fake.base}/{tenant}/oauth2/v2.0/token"
        try:
            claims = jwt.decode(assertion, cert.public_key(), algorithms=[header["alg"]],
                                audience=endpoint, options={"require": ["exp", "iss", "sub"]})
        except jwt.PyJWTError as exc:
            return refuse(401, "invalid_client", 700027, f"Client assertion invalid: {exc}")
        if claims["iss"] != form["client_id"] or claims["sub"] != form["client_id"]:
            return refuse(401, "invalid_client", 700027, "iss/sub must be the client id.")
        fake.assertions.append({"header": header, "claims": claims})
        token = "FAKE-ACCESS-" + secrets.token_urlsafe(24)
        fake.tokens[token] = {"tenant": tenant, "client": form["client_id"],
                              "expires": time.monotonic() + 3600}
        fake.issued_tokens.append(token)
        return 200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                     "access_token": token}

    def _caller(self) -> dict[str, Any] | None:
        value = self.headers.get("Authorization", "")
        token = self.fake.tokens.get(value.removeprefix("Bearer "))
        if token is None or token["expires"] < time.monotonic():
            return None
        return token

    def _graph(self, method: str, path: str, body: bytes) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        caller = self._caller()
        if caller is None:
            return (*_error(401, "InvalidAuthenticationToken",
                            "Access token has expired or is not yet valid."), {})
        data = json.loads(body) if body else {}

        def site_role(site: dict[str, Any]) -> str | None:
            return site["grants"].get(caller["client"])

        match = re.fullmatch(r"/sites/([^/:]+):(/.*)", path)
        if match and method == "GET":
            site = fake.sites.get(f"{match.group(1)}:{unquote(match.group(2))}")
            if site is None:
                return (*_error(404, "itemNotFound", "Requested site could not be found"), {})
            if site_role(site) is None:  # Sites.Selected without a grant on this site
                return (*_error(403, "accessDenied", "Access denied"), {})
            return 200, {k: site[k] for k in ("id", "displayName", "webUrl")}, {}
        match = re.fullmatch(r"/sites/([^/]+)/drives", path)
        if match and method == "GET":
            site = next((s for s in fake.sites.values() if s["id"] == match.group(1)), None)
            if site is None or site_role(site) is None:
                return (*_error(403, "accessDenied", "Access denied"), {})
            return 200, {"value": [{"id": d, "name": fake.drives[d]["name"],
                                    "driveType": "documentLibrary",
                                    "webUrl": fake.drives[d]["webUrl"]}
                                   for d in site["drives"]]}, {}
        match = re.match(r"/drives/([^/]+)(/.*)", path)
        if not match or match.group(1) not in fake.drives:
            return (*_error(404, "itemNotFound", "The resource could not be found."), {})
        drive = fake.drives[match.group(1)]
        site = next(s for s in fake.sites.values() if s["id"] == drive["site"])
        role = site_role(site)
        if role is None:
            return (*_error(403, "accessDenied", "Access denied"), {})
        rest = match.group(2)
        writing = method in ("POST", "PATCH", "PUT", "DELETE")
        if writing and role != "write":
            return (*_error(403, "accessDenied", "Access denied"), {})
        if rest == "/root" and method == "GET":
            return 200, fake.item_json(fake.items[drive["root"]]), {}
        if rest == "/list/columns" and method == "GET":
            return 200, {"value": [{"name": c} for c in sorted(drive["columns"])]}, {}
        match = re.fullmatch(r"/items/([^/:]+):/([^/:]+):/createUploadSession", rest)
        if match and method == "POST":
            return self._create_session(drive, match.group(1), unquote(match.group(2)), data)
        match = re.fullmatch(r"/items/([^/:]+):/([^/:]+)", rest)
        if match and method == "GET":
            child = fake._child(match.group(1), unquote(match.group(2)))
            # A "hidden" file (checked out with no checked-in version, or a draft under
            # item-level security) is invisible to the app, yet its name is taken (409).
            if child is None or child.get("hidden"):
                return (*_error(404, "itemNotFound", "The resource could not be found."), {})
            return 200, fake.item_json(child), {}
        match = re.fullmatch(r"/items/([^/:]+)/children", rest)
        if match and method == "POST":
            parent = match.group(1)
            if fake._child(parent, data["name"]) is not None:
                return (*_error(409, "nameAlreadyExists",
                                "The specified item name already exists."), {})
            folder = fake._new_item(drive["id"], parent, data["name"], folder=True)
            return 201, fake.item_json(folder), {}
        match = re.fullmatch(r"/items/([^/:]+)/listItem/fields", rest)
        if match and method == "PATCH":
            item = fake.items.get(match.group(1))
            if item is None:
                return (*_error(404, "itemNotFound", "The resource could not be found."), {})
            unknown = sorted(set(data) - drive["columns"])
            if unknown:  # GUESS: the wording of Graph's error for an unknown column
                return (*_error(400, "invalidRequest",
                                f"Field '{unknown[0]}' is not recognized"), {})
            item["fields"].update(data)
            return 200, dict(item["fields"]), {}
        match = re.fullmatch(r"/items/([^/:]+)/content", rest)
        if match and method == "GET":
            item = fake.items.get(match.group(1))
            if item is None:
                return (*_error(404, "itemNotFound", "The resource could not be found."), {})
            item["sig"] = secrets.token_urlsafe(8)
            # Graph answers /content with a 302 to a pre-authenticated download URL.
            return 302, None, {"Location": f"{fake.base}/download/{item['id']}?sig={item['sig']}"}
        match = re.fullmatch(r"/items/([^/:]+)", rest)
        if match and method == "GET":
            item = fake.items.get(match.group(1))
            if item is None:
                return (*_error(404, "itemNotFound", "The resource could not be found."), {})
            return 200, fake.item_json(item), {}
        return (*_error(400, "invalidRequest", f"the fake does not implement {method} {rest}"),
                {})

    def _create_session(self, drive: dict[str, Any], parent: str, name: str,
                        data: dict[str, Any]) -> tuple[int, Any, dict[str, str]]:
        fake = self.fake
        item = data.get("item") or {}
        if item.get("@microsoft.graph.conflictBehavior") != "fail":
            return (*_error(400, "invalidRequest", "S4 must always ask for conflictBehavior "
                                                   "fail (the fake insists)"), {})
        if fake._child(parent, name) is not None:
            # GUESS: with conflictBehavior=fail Graph refuses an existing name already when
            # the session is created (it certainly does at commit; both are handled).
            return (*_error(409, "nameAlreadyExists", "The specified item name already exists."),
                    {})
        session_id = secrets.token_hex(8)
        secret = "TEMPAUTH-" + secrets.token_urlsafe(24)
        fake.session_secrets.append(secret)
        fake.sessions[session_id] = {"drive": drive["id"], "parent": parent, "name": name,
                                     "data": bytearray(), "secret": secret}
        return 200, {"uploadUrl": f"{fake.base}/upload/{session_id}?tempauth={secret}",
                     "expirationDateTime": "2099-01-01T00:00:00Z",
                     "nextExpectedRanges": ["0-"]}, {}

    def _upload(self, method: str, session_id: str, query: dict[str, list[str]],
                body: bytes) -> tuple[int, Any]:
        fake = self.fake
        session = fake.sessions.get(session_id)
        if session is None:
            # GUESS: a finished, cancelled or expired session answers 404 itemNotFound.
            return _error(404, "itemNotFound", "The upload session was not found.")
        if query.get("tempauth", [""])[0] != session["secret"]:
            return _error(401, "unauthenticated", "bad tempauth")
        if "Authorization" in self.headers:
            # Graph's docs: sending Authorization to the upload URL may fail with 401.
            return _error(401, "unauthenticated", "do not send Authorization to uploadUrl")
        received = len(session["data"])
        status_body = {"expirationDateTime": "2099-01-01T00:00:00Z",
                       "nextExpectedRanges": [f"{received}-"]}
        if method == "GET":
            return 200, status_body
        if method == "DELETE":
            del fake.sessions[session_id]
            return 204, None
        if method != "PUT":
            return _error(405, "invalidRequest", method)
        match = re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", self.headers.get("Content-Range", ""))
        if not match:
            return _error(400, "invalidRequest", "Content-Range required")
        start, end, total = (int(g) for g in match.groups())
        if start != received:
            # GUESS: a fragment that does not start at the next expected byte gets 416.
            return _error(416, "invalidRange", "The fragment overlaps or leaves a gap.")
        if len(body) != end - start + 1:
            return _error(400, "invalidRequest", "Content-Length does not match Content-Range")
        if end + 1 < total and len(body) % FRAGMENT_UNIT:
            return _error(400, "invalidRequest", "fragments must be multiples of 320 KiB")
        session["data"].extend(body)
        if end + 1 < total:
            return 202, {**status_body, "nextExpectedRanges": [f"{end + 1}-"]}
        del fake.sessions[session_id]
        if fake._child(session["parent"], session["name"]) is not None:
            # GUESS: at commit, a name taken meanwhile fails with 409 and the session ends.
            return _error(409, "nameAlreadyExists", "The specified item name already exists.")
        item = fake._new_item(session["drive"], session["parent"], session["name"],
                              folder=False, content=bytes(session["data"]))
        return 201, fake.item_json(item)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
