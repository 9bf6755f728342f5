"""HomeContext: one opened S4 home, shared by every stage, service and interface.

Opening a home means: find it, read its settings, connect to its database, bring the schema
up to date, and refuse a home opened from a path other than its own. That happens here and
nowhere else. The context also holds the one cache of pipelines and schedules (so "which
schedule governs this document" has one answer), the line's lock, and the person acting.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.config import ConfigError, Home, Pipeline, Settings, load_yaml_with_lines
from s4.errors import EnvironmentProblem, UsageProblem, environment_error
from s4.schedule import RecordClass, Schedule, schedule_for


class HomeLock:
    """An exclusive lock on the S4 home, held by ``s4 run``, ``s4 watch`` and the commands
    that drive the line (retry, rescan). Readers and the desk never take it."""

    def __init__(self, home: Home):
        self.path = home.root / ".lock"
        self.handle = None

    def __enter__(self) -> HomeLock:
        self.handle = self.path.open("a+")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.handle.seek(0)
            holder = self.handle.read().strip() or "another process"
            self.handle.close()
            raise EnvironmentProblem(
                f"{self.path.parent} is in use by {holder}: only one `s4 run` or `s4 watch` "
                "may work on a home at a time. Wait for it to finish or stop it."
            ) from None
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write(f"pid {os.getpid()}\n")
        self.handle.flush()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.handle:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()


def check_home_location(home: Home, database) -> None:
    """Refuse a home opened from a path other than its own (moved, copied, restored elsewhere).

    The database holds absolute paths to work files, the store and certificates; opened from
    a copy, recovery would treat the copy's work files as strays and S4 would read and write
    the original home's files. Refusing is the safe answer.
    """
    here = str(home.root.resolve())
    recorded = store_db.home_root_of(database, here)
    if recorded != here:
        raise EnvironmentProblem(
            f"{home.database} belongs to the S4 home at {recorded}, not {here}: an S4 home "
            f"keeps absolute paths, so it cannot be used after being moved or copied. Open it "
            f"at {recorded} (restore a backup to that path). Nothing was changed.")


class HomeContext:
    """An opened home and the person acting in it. Close it (or use ``with``) when done."""

    def __init__(self, home: Home, database, settings: Settings, actor: str,
                 caches: dict[str, dict[str, Any]] | None = None):
        self.home = home
        self.db = database
        self.settings = settings
        self.actor = actor
        self._caches = caches if caches is not None else {"pipelines": {}, "schedules": {}}

    @classmethod
    def open(cls, home: Home | str | Path, actor: str | None = None) -> HomeContext:
        """Open an existing home: settings, database (migrated), location check."""
        home = home if isinstance(home, Home) else Home.locate(home)
        if not home.exists():
            raise UsageProblem(f"{home.root} is not an S4 home. Create it with: "
                               f"s4 --home {home.root} init")
        settings = home.settings()  # ConfigError names file, line and field
        try:
            database = store_db.connect(home.database)
            store_db.migrate(database)
        except OSError as exc:
            raise environment_error(exc, home.root) from None
        try:
            check_home_location(home, database)
        except EnvironmentProblem:
            database.conn.close()
            raise
        return cls(home, database, settings, actor or store_db.default_actor())

    def acting_as(self, actor: str) -> HomeContext:
        """The same open home, for another person (the desk: one per signed-in account)."""
        return HomeContext(self.home, self.db, self.settings, actor, self._caches)

    def close(self) -> None:
        self.db.conn.close()

    def __enter__(self) -> HomeContext:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def lock(self) -> HomeLock:
        return HomeLock(self.home)

    # ------------------------------------------------------------ pipelines and schedules

    def pipeline(self, name: str) -> Pipeline:
        """A pipeline whose schedule exists (checked now, not at the first document)."""
        cache = self._caches["pipelines"]
        if name not in cache:
            pipeline = self.home.pipeline(name)
            try:
                self.schedule(pipeline.classify.schedule)
            except ConfigError as exc:
                if "no such retention schedule" not in str(exc):
                    raise  # the schedule itself is wrong: its own file, line and field
                path = self.home.pipelines / f"{name}.yaml"
                _, lines = load_yaml_with_lines(path)
                where = lines.get(("classify", "schedule"), "?")
                raise ConfigError(f"{path}:{where}: classify.schedule: {exc}") from None
            cache[name] = pipeline
        return cache[name]

    def schedule(self, name: str) -> Schedule:
        cache = self._caches["schedules"]
        if name not in cache:
            cache[name] = schedule_for(self.home, name)
        return cache[name]

    def schedule_name_for(self, doc: dict[str, Any]) -> str:
        """The schedule a document is governed by: its pipeline's. A record whose pipeline
        file has since been removed stays under the default pipeline's schedule."""
        pipeline = doc.get("pipeline") or ""
        if not (self.home.pipelines / f"{pipeline}.yaml").exists():
            pipeline = self.settings.s4.default_pipeline
        return self.pipeline(pipeline).classify.schedule

    def schedule_for(self, doc: dict[str, Any]) -> Schedule:
        return self.schedule(self.schedule_name_for(doc))

    def record_class(self, doc: dict[str, Any]) -> RecordClass | None:
        return self.schedule_for(doc).get(doc["record_class"]) if doc["record_class"] else None

    def forget_schedules(self) -> None:
        """Read pipelines and schedules again (after a person edited them)."""
        self._caches["pipelines"].clear()
        self._caches["schedules"].clear()
