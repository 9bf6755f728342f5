"""Accounts for the desk (``s4 serve``): people, roles, passwords, sign-in and sessions.

Passwords are kept only as Argon2id hashes (argon2-cffi). A session is a random token held
in the browser's cookie; the database keeps only its SHA-256, so a copy of the database
cannot be used to sign in. Sign-in, sign-out, failed sign-ins and lock-outs are audit events
whose actor is the account name, never the OS user running the server. Time is always passed
in (``at``), so tests can move the clock instead of sleeping.
"""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from s4 import db as store_db
from s4.config import WebSettings

OPERATOR, RECORDS_MANAGER, AUDITOR, ADMIN = "operator", "records-manager", "auditor", "admin"
ROLES = (OPERATOR, RECORDS_MANAGER, AUDITOR, ADMIN)
ROLE_DESCRIPTIONS = {
    OPERATOR: "runs batches and paper QA; decides no retention",
    RECORDS_MANAGER: "decides classification, retention, holds and destruction",
    AUDITOR: "reads everything, changes nothing",
    ADMIN: "manages accounts",
}
MIN_PASSWORD_LENGTH = 12
_NAME_CHARACTERS = set("abcdefghijklmnopqrstuvwxyz0123456789.-_")

_hasher = PasswordHasher()  # argon2-cffi's defaults are Argon2id with RFC 9106 parameters
# Verified against when the name is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AccountError(ValueError):
    """A request about an account that cannot be done; the message says why."""


def stamp(at: datetime) -> str:
    """The database's time form (same as ``store_db.now()``)."""
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def utc_now() -> datetime:
    return datetime.now(UTC)


def check_name(name: str) -> str:
    name = name.strip().lower()
    if not name or len(name) > 64 or set(name) - _NAME_CHARACTERS:
        raise AccountError(f"{name!r} is not a user name: use 1-64 lower-case letters, digits, "
                           "'.', '-' or '_' (e.g. jane.smith)")
    return name


def check_roles(roles: list[str] | tuple[str, ...]) -> list[str]:
    unknown = [role for role in roles if role not in ROLES]
    if unknown or not roles:
        raise AccountError(f"unknown role(s) {', '.join(unknown) or '(none given)'}; "
                           f"choose from {', '.join(ROLES)}")
    return sorted(set(roles), key=ROLES.index)


def check_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"the password is too short: use at least {MIN_PASSWORD_LENGTH} "
                           "characters (a few unrelated words is easy to remember)")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(check_password(password))


# ---- managing accounts (s4 user …)


def add_user(database, name: str, roles: list[str], password: str, actor: str) -> str:
    name, roles = check_name(name), check_roles(roles)
    try:
        store_db.insert_user(database, actor, name, roles, hash_password(password))
    except sqlite3.IntegrityError:
        raise AccountError(f"there is already a user {name!r} (change the password with "
                           f"`s4 user password {name}`)") from None
    return name


def _existing(database, name: str) -> dict[str, Any]:
    user = store_db.get_user(database, name.strip().lower())
    if user is None:
        raise AccountError(f"no user {name!r} (see `s4 user list`)")
    return user


def disable_user(database, name: str, actor: str) -> None:
    """The account can no longer sign in, and its open sessions end now."""
    user = _existing(database, name)
    store_db.change_user(database, user["name"], actor, "user.disabled", end_sessions=True,
                         disabled=1)


def set_password(database, name: str, password: str, actor: str) -> None:
    """A new password also clears a lock-out and ends the account's open sessions."""
    user = _existing(database, name)
    store_db.change_user(database, user["name"], actor, "user.password_changed",
                         end_sessions=True, password_hash=hash_password(password),
                         failed_attempts=0, locked_until=None)


def list_accounts(database) -> list[dict[str, Any]]:
    """Every account for the admin's page: name, roles, disabled, lock-out, last sign-in
    (never the password hash)."""
    return [{key: value for key, value in user.items() if key != "password_hash"}
            for user in store_db.list_users(database)]


def is_locked(user: dict[str, Any], at: datetime) -> bool:
    return bool(user["locked_until"]) and parse_stamp(user["locked_until"]) > at


# ---- signing in and sessions


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in: ``token`` and ``csrf`` set when it succeeded."""

    ok: bool
    message: str = ""
    token: str | None = None


@dataclass(frozen=True)
class Session:
    user_name: str
    roles: frozenset[str]
    csrf_token: str
    token_sha256: str


_TOUCH_EVERY = timedelta(seconds=20)
REFUSED = "That user name and password do not match an account that can sign in."


UNKNOWN_ACCOUNT = "unknown account"


def typed_name_digest(typed: str) -> str:
    """A short SHA-256 prefix of a typed name that matched no account: repeated attempts
    with the same name can be told apart without the log keeping what was typed."""
    return "sha256:" + hashlib.sha256(typed.encode("utf-8")).hexdigest()[:12]


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def sign_in(database, name: str, password: str, settings: WebSettings, at: datetime,
            client: str = "") -> SignIn:
    """Check the password and open a session. The refusal does not say which part was wrong.

    Failures are counted per account; after ``settings.max_failed_sign_ins`` in a row the
    account is locked for ``settings.lockout_minutes`` (even the right password is refused).
    """
    typed = name.strip().lower()[:64]
    user = store_db.get_user(database, typed) if typed else None
    if user is None:
        _verify(_DUMMY_HASH, password)
        # Never the typed name itself: people type their password into the name field.
        unknown = f"unknown account {typed_name_digest(typed)}" if typed else \
            "unknown account (blank)"
        store_db.log_event(database, UNKNOWN_ACCOUNT, "user.sign_in_failed", unknown,
                           {"reason": "no such account", "client": client})
        return SignIn(False, REFUSED)
    subject = user["name"]
    lockout = stamp(at + timedelta(minutes=settings.lockout_minutes))
    attempt = store_db.reserve_sign_in_attempt(database, subject, stamp(at),
                                               settings.max_failed_sign_ins, lockout)
    if attempt is None:
        locked = store_db.get_user(database, subject) or user
        store_db.log_event(database, subject, "user.sign_in_failed", f"user:{subject}",
                           {"reason": "locked", "locked_until": locked["locked_until"],
                            "client": client})
        return SignIn(False, "This account is locked after repeated failed sign-ins; try "
                             "again later or ask an administrator to set a new password.")
    if not _verify(user["password_hash"], password):
        details = {"reason": "wrong password", "failed_attempts": attempt, "client": client}
        if attempt >= settings.max_failed_sign_ins:
            store_db.change_user(database, subject, subject, "user.sign_in_failed", details,
                                 locked_until=lockout)
            store_db.log_event(database, subject, "user.locked_out", f"user:{subject}",
                               {"failed_attempts": attempt, "locked_until": lockout})
        else:
            store_db.log_event(database, subject, "user.sign_in_failed", f"user:{subject}",
                               details)
        return SignIn(False, REFUSED)
    if user["disabled"]:
        store_db.log_event(database, subject, "user.sign_in_failed", f"user:{subject}",
                           {"reason": "disabled", "client": client})
        return SignIn(False, REFUSED)
    token = secrets.token_urlsafe(32)
    store_db.insert_web_session(database, token_digest(token), subject,
                                secrets.token_urlsafe(32), stamp(at), {"client": client})
    return SignIn(True, token=token)


# Each Argon2 check takes ~64 MiB: a flood of sign-ins must queue, not exhaust the memory.
_CHECKS_AT_ONCE = threading.BoundedSemaphore(2)


def _verify(password_hash: str, password: str) -> bool:
    try:
        with _CHECKS_AT_ONCE:
            return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def session_for(database, token: str | None, settings: WebSettings, at: datetime
                ) -> Session | None:
    """The live session for this cookie, or None. A session idle too long, or older than
    ``settings.session_max_hours`` since its sign-in whatever its activity, is ended (and
    logged)."""
    if not token:
        return None
    digest = token_digest(token)
    row = store_db.get_web_session(database, digest)
    if row is None:
        return None
    user = store_db.get_user(database, row["user_name"])
    if user is None or user["disabled"]:
        store_db.end_web_session(database, digest, None, None)
        return None
    if at - parse_stamp(row["created_at"]) > timedelta(hours=settings.session_max_hours):
        store_db.end_web_session(database, digest, None, "user.session_expired",
                                 {"reason": "too old", "signed_in_at": row["created_at"],
                                  "session_max_hours": settings.session_max_hours})
        return None
    idle = at - parse_stamp(row["last_seen"])
    if idle > timedelta(minutes=settings.idle_minutes):
        store_db.end_web_session(database, digest, None, "user.session_expired",
                                 {"reason": "idle", "idle_minutes": settings.idle_minutes})
        return None
    if idle > _TOUCH_EVERY:  # not a write per page image: the line is writing too
        store_db.touch_web_session(database, digest, stamp(at))
    return Session(user["name"], frozenset(user["roles"]), row["csrf_token"], digest)


def sign_out(database, session: Session) -> None:
    store_db.end_web_session(database, session.token_sha256, session.user_name,
                             "user.signed_out")
