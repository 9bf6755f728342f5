"""A read-only home: reading commands work as they are, writing ones exit 3 plainly.

Tests run as root, and root ignores permission bits, so two real set-ups are used: a
read-only bind mount of the home over itself (EROFS, as after a disk error or on backup
media), and the S4 commands run as the unprivileged user ``nobody`` (via ``setpriv``) on a
home whose files are not writable for it (the ``chmod`` case, -wal and -shm included).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.config import Home
from s4.home import initialise
from tests.conftest import S4_BIN, run_s4
from tests.store_support import add_filed, make_pdf

READING = (("status",), ("status", "box-0042"), ("show", "D000001"),
           ("export", "documents", "--format", "jsonl"), ("audit", "verify"),
           ("audit", "log"), ("review", "list"), ("hold", "list"), ("paper", "status"),
           ("retention", "due"))


def s4(home: Home, *args: str, user: str | None = None) -> subprocess.CompletedProcess:
    prefix = ["setpriv", "--reuid", user, "--regid", "nogroup", "--clear-groups"] if user else []
    env = {**os.environ, "OMP_THREAD_LIMIT": "1", "HOME": "/tmp"}
    return subprocess.run([*prefix, str(S4_BIN), "--home", str(home.root), *args],
                          capture_output=True, text=True, check=False, env=env, timeout=120)


def stored_home(home: Home, work: Path) -> None:
    """Two records stored and verified, as a real home would hold them."""
    database = store_db.connect(home.database)
    store_db.migrate(database)
    for seed, name in ((1, "scan_0001.pdf"), (2, "scan_0002.pdf")):
        add_filed(database, home, name, make_pdf(work / f"{seed}.pdf", seed))
    database.conn.close()
    code, output = run_s4(home, "store", "sync")
    assert code == 0, output


def assert_reading_works(home: Home, user: str | None = None) -> None:
    for args in READING:
        result = s4(home, *args, user=user)
        assert result.returncode == 0, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr
    exported = s4(home, "export", "documents", "--format", "jsonl", user=user).stdout
    assert exported.count('"state": "stored"') == 2  # the real rows, not an empty export
    assert "D000001" in s4(home, "show", "D000001", user=user).stdout
    assert "audit log intact" in s4(home, "audit", "verify", user=user).stdout


def assert_writing_refused(home: Home, scan: Path, names: list[str],
                           user: str | None = None) -> None:
    for args in (("run", str(scan)), ("store", "sync"), ("retry", "D000001"),
                 ("hold", "place", "--reason", "x", "--reference", "CT-1")):
        result = s4(home, *args, user=user)
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
        assert "read-only" in result.stderr and "Nothing was changed" in result.stderr
        for name in names:
            assert name in result.stderr, (name, result.stderr)


@pytest.fixture
def read_only_mount(home: Home, tmp_path: Path):
    stored_home(home, tmp_path)
    mounted = subprocess.run(["mount", "--bind", str(home.root), str(home.root)],
                             capture_output=True, check=False).returncode == 0
    if not mounted:
        pytest.skip("needs permission to bind-mount (root, as on the project's machines)")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(home.root)], check=True)
        yield home
    finally:
        subprocess.run(["umount", "-l", str(home.root)], check=False)


def test_a_read_only_file_system_still_shows_the_home_and_refuses_changes(
        read_only_mount, tmp_path):
    home = read_only_mount
    assert not (home.root / "s4.db-wal").exists()  # clean close: the immutable path
    assert_reading_works(home)
    scan = make_pdf(tmp_path / "new" / "scan.pdf", 9)
    assert_writing_refused(home, scan.parent, ["mounted read-only"])


@pytest.fixture
def nobody_home():
    if shutil.which("setpriv") is None:
        pytest.skip("needs setpriv to run S4 as an unprivileged user")
    base = Path(tempfile.mkdtemp(prefix="s4-readonly-", dir="/tmp"))
    base.chmod(0o755)
    home = Home(base / "home")
    initialise(home)
    try:
        yield home
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_an_unwritable_home_with_wal_files_is_read_and_names_the_files_to_fix(nobody_home):
    home = nobody_home
    work = home.root.parent / "pdfs"
    stored_home(home, work)
    keeper = store_db.connect(home.database)  # another S4 process has it open: -wal/-shm stay
    try:
        keeper.conn.execute("SELECT COUNT(*) FROM documents").fetchone()
        assert (home.root / "s4.db-wal").exists() and (home.root / "s4.db-shm").exists()
        subprocess.run(["chown", "-R", "nobody:nogroup", str(home.root), str(work)], check=True)
        subprocess.run(["chmod", "-R", "a-w", str(home.root)], check=True)
        assert_reading_works(home, user="nobody")
        scan = make_pdf(work / "new" / "scan.pdf", 9)
        assert_writing_refused(home, scan.parent, ["s4.db-wal", "s4.db-shm"], user="nobody")
        # The reported trap: the database made writable again, its -wal/-shm still not.
        (home.root / "s4.db").chmod(0o644)
        home.root.chmod(0o755)
        result = s4(home, "run", str(scan.parent), user="nobody")
        assert result.returncode == 3 and "Traceback" not in result.stderr, result.stderr
        assert "s4.db-wal" in result.stderr and "s4.db-shm" in result.stderr
        assert f"{home.root}/s4.db;" not in result.stderr  # the database itself is fine now
    finally:
        keeper.conn.close()
    assert store_db.documents(store_db.connect(home.database))  # nothing was lost
