"""Shared by every command group: the consoles, the per-invocation Context, exits.

Nothing here imports another module of the command line, so any group can import it.

Exit status (scripts may rely on these; s4.errors.ExitCode):

\b
  0  everything asked for succeeded
  1  the work finished, but some documents were quarantined (see the summary)
  2  usage, settings, pipeline or schedule error (the message names file, line and field)
  3  environment problem: disk full, read-only or unwritable folder, home in use
"""

from __future__ import annotations

import errno
import getpass
import logging
import sqlite3
import sys
from typing import Any

import click
from rich.console import Console
from rich.logging import RichHandler

from s4 import db as store_db
from s4.config import ConfigError, Home
from s4.context import HomeContext, check_home_location
from s4.errors import ExitCode, S4Error, environment_error

# The documented exit codes (s4.errors.ExitCode), by the names this module has always used.
EXIT_OK, EXIT_QUARANTINED = ExitCode.OK, ExitCode.PROBLEMS
EXIT_USAGE, EXIT_ENVIRONMENT = ExitCode.USAGE, ExitCode.ENVIRONMENT


console = Console(stderr=True)
out = Console()


def setup_logging(home: Home | None, verbose: bool) -> None:
    root = logging.getLogger("s4")
    root.handlers.clear()
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    level = logging.DEBUG if verbose else logging.WARNING
    if console.is_terminal:
        handler: logging.Handler = RichHandler(console=console, show_path=False, markup=False)
    else:  # a service log or a pipe: one unwrapped line per record, easy to grep
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    handler.setLevel(level)
    root.addHandler(handler)
    if home is not None and (home.root / "logs").is_dir():
        try:
            file_handler = logging.FileHandler(home.root / "logs" / "s4.log", encoding="utf-8")
        except OSError:  # a read-only home: reading commands still work, without a log file
            return
        file_handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
        file_handler.setLevel(logging.INFO)
        root.addHandler(file_handler)


class Context:
    def __init__(self, home: Home, verbose: bool):
        self.home = home
        self.verbose = verbose
        self.read_only_noted = False

    def require_home(self) -> Home:
        if not self.home.exists():
            raise click.UsageError(
                f"{self.home.root} is not an S4 home. "
                f"Create it with: s4 --home {self.home.root} init"
            )
        return self.home

    def require_writable(self) -> Home:
        """Exit 3 with a plain message when the home's database cannot be written."""
        home = self.require_home()
        blocked = store_db.unwritable_parts(home.database)
        if blocked:
            fail(read_only_message(blocked), EXIT_ENVIRONMENT)
        return home

    def database(self, only_reads: bool = False, migrate: bool = True):
        """The home's database. A command that ``only_reads`` still works on a home S4 may
        not write (read-only file system or permissions): it is opened read-only as it is.
        Any other command against such a home exits 3 saying which file is read-only."""
        home = self.require_home()
        blocked = store_db.unwritable_parts(home.database)
        if blocked and not only_reads:
            fail(read_only_message(blocked), EXIT_ENVIRONMENT)
        if blocked:
            return self._read_only_database(home)
        database = store_db.connect(home.database)
        if migrate:
            store_db.migrate(database)
            try:
                check_home_location(home, database)
            except S4Error as exc:
                fail(str(exc), EXIT_ENVIRONMENT)
        return database

    def context(self, actor: str | None = None, only_reads: bool = False,
                migrate: bool = True) -> HomeContext:
        """The opened home for a service, with this command line's exits (2 settings, 3
        read-only or moved home). A read-only home opens as it is for ``only_reads``."""
        database = self.database(only_reads, migrate)
        try:
            settings = self.home.settings()
        except ConfigError:
            database.conn.close()
            raise
        return HomeContext(self.home, database, settings, actor or store_db.default_actor())

    def _read_only_database(self, home: Home):
        database = store_db.connect(home.database, read_only=True)
        gaps = store_db.schema_gaps(database)
        if gaps:
            fail(f"{home.database} was written by an older S4 and must be upgraded before it "
                 f"can be read (missing: {', '.join(gaps[:5])}), which needs write access: "
                 "run any S4 command once on a writable copy at the same path. Nothing was "
                 "changed.", EXIT_ENVIRONMENT)
        recorded, here = store_db.recorded_home_root(database), str(home.root.resolve())
        if recorded not in (None, here):
            fail(f"{home.database} belongs to the S4 home at {recorded}, not {here}: an S4 "
                 f"home keeps absolute paths, so it cannot be used after being moved or "
                 f"copied. Open it at {recorded}. Nothing was changed.", EXIT_ENVIRONMENT)
        if not self.read_only_noted:
            self.read_only_noted = True
            console.print(f"note: {home.root} is read-only for S4; showing it as it is "
                          "(nothing can be changed until it is writable again).",
                          highlight=False, soft_wrap=True)
        return database


def read_only_message(blocked: list[str]) -> str:
    """Which part of the home is read-only, and what to do about it."""
    return (f"the S4 home cannot be written: {'; '.join(blocked)} "
            f"{'is' if len(blocked) == 1 else 'are'} read-only for user {getpass.getuser()}. "
            "Make them writable by the S4 user (the database's -wal and -shm files too: "
            "e.g. `chmod u+w s4.db s4.db-wal s4.db-shm` and the folder, or `chown`), or "
            "remount the file system read-write, then run again. Commands that only read "
            "(status, show, export, audit, review list/show, retention due, hold list, "
            "paper status) still work. Nothing was changed.")


def fail(message: str, code: int) -> None:
    # Plain text, never wrapped: scripts grep these lines and editors jump to file:line.
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


_ENVIRONMENT_ERRNOS = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
_ENVIRONMENT_SQLITE = ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_FULL", "SQLITE_IOERR",
                       "SQLITE_PERM")


class S4Group(click.Group):
    """The command group: an environment failure that escapes a command (a read-only or
    full disk met half-way) ends with exit 3 and a plain message, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except S4Error as exc:  # ConfigError too: each carries its documented exit code
            fail(str(exc), exc.exit_code)
        except sqlite3.OperationalError as exc:
            name = getattr(exc, "sqlite_errorname", "") or ""
            if not name.startswith(_ENVIRONMENT_SQLITE):
                raise
            home = ctx.obj.home if isinstance(ctx.obj, Context) else None
            blocked = store_db.unwritable_parts(home.database) if home else []
            if blocked or name.startswith("SQLITE_READONLY"):
                fail(read_only_message(blocked or [str(home.database if home else "s4.db")]),
                     EXIT_ENVIRONMENT)
            fail(f"the S4 database {home.database if home else ''} cannot be used: {exc} "
                 f"({name}). Nothing was lost; fix it and run again.", EXIT_ENVIRONMENT)
        except OSError as exc:
            if exc.errno not in _ENVIRONMENT_ERRNOS:
                raise
            where = exc.filename or (ctx.obj.home.root if isinstance(ctx.obj, Context) else "")
            fail(str(environment_error(exc, where)), EXIT_ENVIRONMENT)


def num(value: float | None) -> str:
    return "" if value is None else f"{value:.0f}"


def gist(reason: str | None, limit: int = 60) -> str:
    """The start of a long reason, for a table cell; `s4 show DOC` has the whole of it."""
    if not reason or len(reason) <= limit:
        return reason or ""
    cut = reason[:limit].rsplit(" ", 1)[0].rstrip(" ,;:(")
    return f"{cut}… (s4 show)"


def doc_id_or_fail(text: str) -> str:
    try:
        return store_db.normalise_doc_id(text)
    except ValueError as exc:
        fail(str(exc), EXIT_USAGE)


