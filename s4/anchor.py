"""Anchoring the audit log's head with an RFC 3161 time-stamping authority (TSA).

A forger with write access to the S4 home can rewrite the whole log, recompute every hash
and rewrite the head file too. A timestamp token cannot be forged that way: the TSA signs
"this SHA-256 existed at this time" with its own key. ``anchor_head`` asks the configured
TSA to sign ``SEQ:HASH`` of the current head and stores the reply (the database table
``audit_anchors`` and a copy under ``audit/anchors/`` that an auditor can take away);
``check_anchors`` proves each stored token is signed by that TSA and covers the entry that
the log holds at that seq today.

Requests, replies and signatures are handled by ``rfc3161-client``; HTTP by ``requests``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from cryptography import x509
from rfc3161_client import (
    HashAlgorithm,
    TimestampRequestBuilder,
    VerificationError,
    VerifierBuilder,
    decode_timestamp_response,
)

from s4 import db as store_db
from s4.config import AuditSettings, ConfigError, Home
from s4.events import audit_folder

ANCHOR_FOLDER = "anchors"


class TsaUnavailable(Exception):
    """The TSA could not be reached or did not answer (an environment problem)."""


class AnchorRefused(Exception):
    """The TSA answered, but its reply does not prove what was asked."""


def anchored_message(seq: int, digest: str) -> bytes:
    """What the TSA signs (as its SHA-256): the head in the form ``s4 audit head`` prints."""
    return f"{seq}:{digest}".encode("ascii")


def safe_url(url: str) -> str:
    """The TSA address without any user name or password it carries, for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


@dataclass(frozen=True)
class TsaTrust:
    tsa_certificate: x509.Certificate
    roots: list[x509.Certificate]
    intermediates: list[x509.Certificate]

    def verifier(self, nonce: int | None = None):
        builder = VerifierBuilder(tsa_certificate=self.tsa_certificate,
                                  roots=list(self.roots), intermediates=list(self.intermediates),
                                  nonce=nonce)
        return builder.build()


def load_trust(settings: AuditSettings, home: Home) -> TsaTrust:
    """The TSA certificate and its chain from ``[audit] tsa_certificate`` (ConfigError)."""
    if settings.tsa_certificate is None:
        raise ConfigError(f"{home.settings_file}: audit.tsa_certificate: not set: name the "
                          "PEM file with the TSA's certificate and its CA chain")
    path = settings.tsa_certificate
    path = path if path.is_absolute() else home.root / path
    try:
        certificates = x509.load_pem_x509_certificates(path.read_bytes())
    except OSError as exc:
        raise ConfigError(f"{home.settings_file}: audit.tsa_certificate: cannot read {path}: "
                          f"{exc.strerror}") from None
    except ValueError:
        raise ConfigError(f"{home.settings_file}: audit.tsa_certificate: {path} holds no PEM "
                          "certificate") from None
    # First the TSA's own certificate, then its chain; the last one is trusted as the root
    # (a self-signed TSA certificate on its own is its own root).
    return TsaTrust(certificates[0], [certificates[-1]], certificates[1:-1])


def _request_token(settings: AuditSettings, message: bytes) -> tuple[bytes, int | None]:
    request = (TimestampRequestBuilder().data(message).hash_algorithm(HashAlgorithm.SHA256)
               .nonce(nonce=True).cert_request(cert_request=True).build())
    where = safe_url(settings.tsa_url)
    try:
        reply = requests.post(settings.tsa_url, data=request.as_bytes(),
                              headers={"Content-Type": "application/timestamp-query"},
                              timeout=settings.timeout_seconds)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise TsaUnavailable(f"the time-stamping authority {where} could not be reached "
                             f"({reason}); check the network, proxy and audit.tsa_url, then "
                             "run `s4 audit anchor` again") from None
    if reply.status_code != 200:
        raise TsaUnavailable(f"the time-stamping authority {where} answered HTTP "
                             f"{reply.status_code}; nothing was anchored, try again later")
    return reply.content, request.nonce


def anchor_head(database, home: Home, actor: str) -> dict[str, Any]:
    """Have the TSA sign the current head; verify, store and log the token."""
    settings = home.settings().audit
    if not settings.tsa_url:
        raise ConfigError(f"{home.settings_file}: audit.tsa_url: not set: the address of the "
                          "time-stamping authority (RFC 3161), e.g. https://tsa.example/tsr")
    trust = load_trust(settings, home)
    last = store_db.audit_last_event(database)
    if last is None:
        raise AnchorRefused("the audit log is empty: there is nothing to anchor")
    seq, digest = last["seq"], last["hash"]
    message = anchored_message(seq, digest)
    token, nonce = _request_token(settings, message)
    where = safe_url(settings.tsa_url)
    try:
        response = decode_timestamp_response(token)
        trust.verifier(nonce).verify_message(response, message)
    except (ValueError, VerificationError) as exc:
        raise AnchorRefused(f"the reply from {where} does not prove the head {seq}:{digest} "
                            f"({exc}); nothing was stored. Is audit.tsa_certificate this "
                            "TSA's certificate and chain?") from None
    tsa_time = response.tst_info.gen_time.isoformat().replace("+00:00", "Z")
    stored = store_db.insert_audit_anchor(database, actor, seq, digest, token, where, tsa_time)
    folder = _anchor_folder(database)
    path = folder / f"{seq}-{digest}.tsr"
    folder.mkdir(parents=True, exist_ok=True)
    path.write_bytes(token)
    return {"id": stored["id"], "seq": seq, "hash": digest, "tsa_time": tsa_time,
            "tsa": where, "file": path, "event_seq": stored["event_seq"]}


def _anchor_folder(database) -> Path:
    return audit_folder(store_db.audit_database_path(database)) / ANCHOR_FOLDER


@dataclass
class AnchorCheck:
    checked: int = 0
    problems: list[str] | None = None
    newest: tuple[int, str] | None = None  # (seq, TSA time) of the latest good anchor


def _check_one(label: str, seq: int, digest: str, token: bytes, trust: TsaTrust | None,
               database) -> str | None:
    entry = store_db.audit_event_by_seq(database, seq)
    try:
        response = decode_timestamp_response(token)
    except ValueError as exc:
        return f"{label}: its timestamp token is damaged and cannot be read ({exc})"
    if trust is None:
        return None
    verifier = trust.verifier()
    try:
        verifier.verify_message(response, anchored_message(seq, digest))
    except VerificationError as exc:
        return (f"{label}: its timestamp token is not a valid signature of the configured "
                f"TSA over {seq}:{digest[:16]}… ({exc}): the token or the anchor was altered")
    when = response.tst_info.gen_time.isoformat()
    if entry is None:
        return (f"{label}: the TSA certified entry {seq} with hash {digest[:16]}… at {when}, "
                f"but the log has no entry {seq} now: it was deleted")
    if entry["hash"] != digest:
        return (f"{label}: the TSA certified entry {seq} with hash {digest[:16]}… at {when}, "
                f"but entry {seq} in the log now has hash {entry['hash'][:16]}…: the log was "
                f"rewritten at or before entry {seq} since it was anchored")
    return None


def check_anchors(database, home: Home | None) -> AnchorCheck:
    """Check every stored anchor (database rows and the files in audit/anchors/)."""
    result = AnchorCheck(problems=[])
    anchors = store_db.audit_anchors(database)
    folder = _anchor_folder(database) if store_db.audit_database_path(database) else None
    files = sorted(folder.glob("*.tsr")) if folder is not None and folder.is_dir() else []
    if not anchors and not files:
        return result
    trust = None
    try:
        if home is None:
            raise ConfigError("the S4 home is unknown, so audit.tsa_certificate cannot be read")
        trust = load_trust(home.settings().audit, home)
    except ConfigError as exc:
        result.problems.append(f"anchors cannot be checked against their TSA: {exc}")
    known_tokens = set()
    for anchor in anchors:
        known_tokens.add(bytes(anchor["token"]))
        result.checked += 1
        label = f"anchor {anchor['id']} (entry {anchor['seq']}, {anchor['tsa_time']})"
        problem = _check_one(label, anchor["seq"], anchor["hash"], bytes(anchor["token"]),
                             trust, database)
        if problem:
            result.problems.append(problem)
        elif result.newest is None or anchor["seq"] >= result.newest[0]:
            result.newest = (anchor["seq"], anchor["tsa_time"])
    for path in files:
        token = path.read_bytes()
        if token in known_tokens:
            continue
        result.checked += 1
        seq_text, _, digest = path.stem.partition("-")
        label = f"anchor file {path.name}"
        if not seq_text.isdigit() or len(digest) != 64:
            result.problems.append(f"{label}: not named SEQ-HASH.tsr as S4 writes them")
            continue
        result.problems.append(f"{label}: has no row in the database's anchors (the anchors "
                               "table was edited, or the file was copied in)")
        problem = _check_one(label, int(seq_text), digest, token, trust, database)
        if problem:
            result.problems.append(problem)
    return result
