"""Shared fixtures: a fresh S4 home per test, small real scans, and honest waiting helpers."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from PIL import Image, ImageDraw, ImageFont

from s4 import db as store_db
from s4.cli import cli
from s4.config import Home
from s4.home import initialise

os.environ.setdefault("OMP_THREAD_LIMIT", "1")
FONT_PATH = "/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf"
S4_BIN = Path(sys.executable).with_name("s4")

LETTER = [
    "Borsetshire District Council",
    "Council Tax Department, Market Square, Felpersham",
    "Account reference CT-40012345",
    "Date: 3 March 2021",
    "Dear Mr Archer,",
    "Your council tax bill for the year is enclosed.",
    "Please pay the first instalment by 1 April 2021.",
    "Yours sincerely, Revenue Services",
]


def make_page(lines: list[str], size=(1240, 1754), font_size: int = 30) -> Image.Image:
    """A small, clean page (A4 at 150 dpi) that Tesseract reads quickly and reliably."""
    font = ImageFont.truetype(FONT_PATH, font_size)
    page = Image.new("L", size, 255)
    draw = ImageDraw.Draw(page)
    y = 120
    for line in lines:
        draw.text((100, y), line, font=font, fill=0)
        y += int(font_size * 1.8)
    return page


def write_scan(path: Path, lines: list[str] = LETTER, rotate: int = 0, pages: int = 1,
               numbered: bool = True) -> Path:
    """Write a scan in the format its suffix names. ``rotate``: degrees counter-clockwise."""
    images = [make_page([*lines, *([f"Page {n + 1} of {pages}"] if numbered else [])])
              for n in range(pages)]
    if rotate:
        images = [image.rotate(rotate, expand=True) for image in images]
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix in (".tif", ".tiff"):
        bilevel = [image.convert("1") for image in images]
        bilevel[0].save(path, save_all=True, append_images=bilevel[1:], compression="group4",
                        dpi=(150, 150))
    elif suffix == ".pdf":
        import img2pdf

        frames = []
        for number, image in enumerate(images):
            frame = path.with_name(f".{path.stem}-{number}.png")
            image.save(frame, dpi=(150, 150))
            frames.append(frame)
        path.write_bytes(img2pdf.convert([str(f) for f in frames]))
        for frame in frames:
            frame.unlink()
    elif suffix in (".jpg", ".jpeg"):
        images[0].save(path, quality=85, dpi=(150, 150))
    else:
        images[0].save(path, dpi=(150, 150))
    return path



def seed_split_stack(db, actor: str, batch_id: str, box: str, source_name: str,
                     sha256: str, scan_pages: str) -> str:
    """A scanner's file already split into records (state ``split``), as the line leaves it;
    returns its id. The batch must exist."""
    with store_db.transaction(db):
        stack = store_db.next_doc_id(db)
        store_db.insert_document(db, actor, {
            "id": stack, "batch_id": batch_id, "box": box, "position": 1,
            "source_name": source_name, "source_path": f"/scans/{source_name}",
            "source_size": 10, "source_mtime": 0.0, "sha256": sha256,
            "pipeline": "default", "state": store_db.OCR})
    store_db.update_document(db, stack, actor, "document.split", {},
                             state=store_db.SPLIT, scan_pages=scan_pages)
    return stack


@pytest.fixture
def home(tmp_path: Path) -> Home:
    home = Home(tmp_path / "s4home")
    initialise(home)
    settings = home.settings_file.read_text()
    settings = settings.replace("quiet_seconds = 5.0", "quiet_seconds = 1.0")
    settings = settings.replace("rescan_seconds = 60.0", "rescan_seconds = 2.0")
    settings = settings.replace('council = ""', 'council = "Borsetshire District Council"')
    home.settings_file.write_text(settings)
    return home


@pytest.fixture
def database(home: Home):
    connection = store_db.connect(home.database)
    yield connection
    connection.conn.close()


@pytest.fixture
def db(database):
    """The home's database, migrated to the current schema (for tests that seed rows)."""
    store_db.migrate(database)
    return database


def run_s4(home: Home, *args: str) -> tuple[int, str]:
    """Run the real CLI in-process; returns (exit code, combined output)."""
    result = CliRunner().invoke(cli, ["--home", str(home.root), *args], catch_exceptions=False)
    return result.exit_code, result.output


def wait_for(predicate: Callable[[], object], timeout: float, what: str,
             interval: float = 0.1) -> object:
    """Wait until ``predicate()`` is truthy (state owned by another process has no event to
    subscribe to, so we re-check it); fail with ``what`` if it never happens."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        pause.wait(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def doc_states(home: Home) -> dict[str, str]:
    connection = store_db.connect(home.database)
    try:
        return {d["source_name"]: d["state"] for d in store_db.documents(connection)}
    finally:
        connection.conn.close()


class WatchProcess:
    """``s4 watch`` as a real subprocess in its own process group (for kill -9 tests)."""

    def __init__(self, home: Home, *args: str):
        env = {**os.environ, "S4_HOME": str(home.root), "OMP_THREAD_LIMIT": "1"}
        self.log = home.root / "watch-output.log"
        self.log_handle = self.log.open("ab")
        self.process = subprocess.Popen(
            [str(S4_BIN), "-v", "watch", *args], env=env, stdout=self.log_handle,
            stderr=subprocess.STDOUT, start_new_session=True,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self) -> None:
        wait_for(lambda: "watching" in self.output() or self.process.poll() is not None,
                 60, "s4 watch to start")
        assert self.process.poll() is None, self.output()

    def kill_hard(self) -> None:
        """Like a power cut: SIGKILL the watcher and all its OCR workers at once."""
        os.killpg(self.process.pid, 9)
        self.process.wait(timeout=30)

    def stop(self, timeout: float = 60) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        code = self.process.wait(timeout=timeout)
        self.log_handle.close()
        return code


@pytest.fixture
def watcher_factory():
    started: list[WatchProcess] = []

    def start(home: Home, *args: str) -> WatchProcess:
        process = WatchProcess(home, *args)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.process.poll() is None:
            os.killpg(process.process.pid, 9)
            process.process.wait(timeout=30)


def copy_tree_files(source: Path, target: Path) -> None:
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file():
            shutil.copy2(item, target / item.name)
