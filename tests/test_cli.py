"""The operator's commands, end to end, on real scans."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from s4 import db as store_db
from s4.config import Home
from s4.home import initialise
from tests.conftest import S4_BIN, run_s4, write_scan
from tests.test_ocr import png_header_only


@pytest.fixture
def mixed_batch(tmp_path: Path) -> Path:
    folder = tmp_path / "box-0042"
    write_scan(folder / "scan_0001.tif", pages=2)
    write_scan(folder / "scan_0002.jpg", rotate=180)
    (folder / "scan_0003.pdf").write_text("this is a text file, not a scan\n")
    (folder / "scan_0004.pdf").write_bytes(b"")
    png_header_only(folder / "scan_0005.png", 40000, 40000)
    (folder / "scan_0006.docx").write_bytes(b"PK\x03\x04 not a scan")
    shutil.copy(folder / "scan_0002.jpg", folder / "scan_0007.jpg")  # same content again
    (folder / "Thumbs.db").write_bytes(b"ignored")
    (folder / "~$draft.pdf").write_bytes(b"ignored")
    return folder


def test_init_twice_keeps_edited_files(tmp_path):
    home = Home(tmp_path / "h")
    initialise(home)
    settings = home.settings_file
    settings.write_text(settings.read_text().replace("quiet_seconds = 5.0", "quiet_seconds = 9.0"))
    pipeline = home.pipelines / "default.yaml"
    pipeline.write_text(pipeline.read_text() + "# edited by the operator\n")
    code, output = run_s4(home, "init")
    assert code == 0 and "nothing changed" in output
    assert "quiet_seconds = 9.0" in settings.read_text()
    assert pipeline.read_text().endswith("# edited by the operator\n")


def test_run_mixed_batch_completes_and_explains_every_failure(home, mixed_batch):
    code, output = run_s4(home, "run", "--batch", "box-0042", str(mixed_batch))
    assert code == 1, output  # documented: finished, some quarantined
    database = store_db.connect(home.database)
    docs = {d["source_name"]: d for d in store_db.documents(database, "box-0042")}
    assert "Thumbs.db" not in docs and "~$draft.pdf" not in docs
    assert docs["scan_0001.tif"]["state"] == "stored" and docs["scan_0001.tif"]["pages"] == 2
    assert docs["scan_0002.jpg"]["state"] == "stored"
    assert docs["scan_0007.jpg"]["state"] == "duplicate"
    assert docs["scan_0007.jpg"]["duplicate_of"] == docs["scan_0002.jpg"]["id"]
    reasons = {name: d["quarantine_reason"] for name, d in docs.items()
               if d["state"] == "quarantined"}
    assert set(reasons) == {"scan_0003.pdf", "scan_0004.pdf", "scan_0005.png", "scan_0006.docx"}
    assert "plain text" in reasons["scan_0003.pdf"]
    assert "empty file" in reasons["scan_0004.pdf"]
    assert "decompression bomb" in reasons["scan_0005.png"]
    assert "unsupported file type .docx" in reasons["scan_0006.docx"]
    for name, doc in docs.items():
        if doc["state"] == "quarantined":
            kept = Path(doc["quarantine_path"])
            assert kept.read_bytes() == (mixed_batch / name).read_bytes()
            assert doc["quarantine_reason"] in (kept.parent / "REASON.txt").read_text()
    assert "scan_0004.pdf" in output and "Quarantined" in output
    assert (mixed_batch / "scan_0001.tif").exists()  # `s4 run` leaves the operator's files
    assert Path(docs["scan_0001.tif"]["output_pdf"]).exists()


def test_run_clean_batch_exits_0_with_summary(home, tmp_path):
    write_scan(tmp_path / "in" / "a.png")
    code, output = run_s4(home, "run", "--batch", "b-ok", str(tmp_path / "in"))
    assert code == 0, output
    assert "succeeded" in output and "pages/minute" in output


def test_export_documents_csv_and_jsonl_with_text(home, tmp_path):
    write_scan(tmp_path / "in" / "a.tif", pages=2)
    (tmp_path / "in" / "b.pdf").write_bytes(b"")
    run_s4(home, "run", "--batch", "b1", str(tmp_path / "in"))
    code, output = run_s4(home, "export", "documents", "--format", "csv")
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(output)))
    assert [r["source_name"] for r in rows] == ["a.tif", "b.pdf"]
    assert rows[0]["state"] == "stored" and rows[0]["pages"] == "2"
    assert rows[0]["batch"] == "b1" and len(rows[0]["sha256"]) == 64
    assert float(rows[0]["ocr_conf_mean"]) > 80 and float(rows[0]["ocr_conf_min"]) > 80
    assert rows[1]["state"] == "quarantined" and "empty file" in rows[1]["quarantine_reason"]
    code, output = run_s4(home, "export", "documents", "--format", "jsonl", "--with-text",
                          "--batch", "b1")
    records = [json.loads(line) for line in output.splitlines()]
    pages = records[0]["text"].split("\f")
    assert len(pages) == 2 and "Page 2 of 2" in pages[1]
    assert records[0]["pdfa"] == 1


def test_retry_after_fixing_the_quarantined_file(home, tmp_path):
    bad = tmp_path / "in" / "letter.png"
    bad.parent.mkdir()
    bad.write_bytes(b"")
    code, _ = run_s4(home, "run", "--batch", "b1", str(bad))
    assert code == 1
    database = store_db.connect(home.database)
    doc = store_db.documents(database)[0]
    write_scan(Path(doc["quarantine_path"]))  # the operator saves a good scan in its place
    code, output = run_s4(home, "retry", doc["id"])
    assert code == 0, output
    fixed = store_db.get_document(database, doc["id"])
    assert fixed["state"] == "stored" and fixed["quarantine_reason"] is None
    assert not Path(doc["quarantine_path"]).parent.exists()
    actions = [e["action"] for e in store_db.events_for(database, doc["id"])]
    assert actions.index("document.ocr_completed") > actions.index("document.retried")
    assert "document.retried" in actions


def test_status_and_show(home, tmp_path):
    write_scan(tmp_path / "in" / "a.png", rotate=180)
    run_s4(home, "run", "--batch", "box-7", str(tmp_path / "in"))
    code, output = run_s4(home, "status")
    assert code == 0 and "box-7" in output and "stored" in output
    code, output = run_s4(home, "status", "box-7")
    assert code == 0 and "a.png" in output
    code, output = run_s4(home, "show", "D1")
    assert code == 0
    assert "D000001" in output and "180°" in output and "document.ocr_completed" in output
    doc = store_db.get_document(store_db.connect(home.database), "D000001")
    flat = "".join(output.split())  # long values wrap in a narrow terminal
    for key in ("record_class", "disposal_due", "store_location", "verified_at"):
        assert key in output and "".join(str(doc[key]).split()) in flat, key
    code, output = run_s4(home, "show", "D99")
    assert code == 2 and "no document D000099" in output


def test_every_command_has_help_with_an_example(home):
    for command in (["init"], ["run"], ["watch"], ["status"], ["show"], ["retry"],
                    ["export", "documents"]):
        code, output = run_s4(home, *command, "--help")
        assert code == 0 and "Example" in output, command


def _mount_tmpfs(target: Path, options: str) -> bool:
    target.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)],
                            capture_output=True, check=False)
    return result.returncode == 0


@pytest.fixture
def small_mount(home):
    """Mount a tiny tmpfs over work/ (needs root, as on the project's machines)."""
    shutil.rmtree(home.work)
    if not _mount_tmpfs(home.work, "size=256k"):
        pytest.skip("needs permission to mount a small tmpfs to fill a real disk")
    (home.work / ".claiming").mkdir()
    yield home.work
    subprocess.run(["umount", "-l", str(home.work)], check=False)


def test_full_disk_is_a_clear_error_and_loses_nothing(home, tmp_path, small_mount):
    scan = write_scan(tmp_path / "in" / "big.png")
    (tmp_path / "in" / "padding.bin.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 400_000)
    result = subprocess.run([str(S4_BIN), "--home", str(home.root), "run", str(tmp_path / "in")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 3, result.stderr
    assert "the disk is full" in result.stderr and "Traceback" not in result.stderr
    assert scan.exists()


def test_read_only_work_area_is_a_clear_error(home, tmp_path, small_mount):
    subprocess.run(["mount", "-o", "remount,ro", str(small_mount)], check=True)
    write_scan(tmp_path / "in" / "a.png")
    result = subprocess.run([str(S4_BIN), "--home", str(home.root), "run", str(tmp_path / "in")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 3, result.stderr
    assert "read-only" in result.stderr and "Traceback" not in result.stderr


def test_a_copied_home_is_refused_and_its_work_files_are_kept(home, tmp_path):
    scan = tmp_path / "scans" / "letter.png"
    scan.parent.mkdir()
    write_scan(scan)
    elsewhere = tmp_path / "copy-of-home"
    shutil.copytree(home.root, elsewhere)
    (elsewhere / "work" / "D000077").mkdir()  # a work item the copy's recovery must not touch
    copy = Home(elsewhere)
    for args in (("run", str(scan.parent)), ("status",)):
        code, output = run_s4(copy, *args)
        assert code == 3, output
        assert f"belongs to the S4 home at {home.root.resolve()}" in output
    assert (elsewhere / "work" / "D000077").is_dir()
    assert run_s4(home, "status")[0] == 0  # the original still opens


def test_an_unreadable_scan_is_reported_left_in_place_and_the_batch_goes_on(
        home, tmp_path, monkeypatch):
    import errno
    import os

    import s4.ingest

    folder = tmp_path / "scans"
    folder.mkdir()
    write_scan(folder / "good.png")
    locked = folder / "locked.png"
    write_scan(locked)
    real_hash = s4.ingest.sha256_fd

    def hash_or_refuse(fd):  # as a file the scanner account wrote with mode 600 would
        if os.readlink(f"/proc/self/fd/{fd}").endswith("locked.png"):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_hash(fd)

    monkeypatch.setattr(s4.ingest, "sha256_fd", hash_or_refuse)
    code, output = run_s4(home, "run", "--batch", "b1", str(folder))
    assert code == 1, output
    assert "not taken:" in output and "locked.png: cannot read it (permission denied)" in output
    database = store_db.connect(home.database)
    (doc,) = store_db.documents(database, "b1")
    assert doc["source_name"] == "good.png" and doc["state"] in store_db.OCR_DONE_STATES
    assert locked.exists()


def test_a_pipeline_naming_a_missing_schedule_is_a_config_error(home, tmp_path):
    pipeline = home.root / "pipelines" / "default.yaml"
    text = pipeline.read_text()
    assert "schedule: uk-local-government" in text
    pipeline.write_text(text.replace("schedule: uk-local-government", "schedule: uk-local-govt"))
    line = next(n for n, row in enumerate(pipeline.read_text().splitlines(), 1)
                if "uk-local-govt" in row)
    scan = tmp_path / "scans" / "letter.png"
    scan.parent.mkdir()
    write_scan(scan)
    code, output = run_s4(home, "run", str(scan.parent))
    assert code == 2, output
    assert f"{pipeline}:{line}: classify.schedule:" in output and "uk-local-govt" in output
    assert store_db.documents(store_db.connect(home.database)) == []  # nothing half-done


def test_status_by_box_and_quarantine_reasons_point_at_the_quarantined_copy(home, tmp_path):
    folder = tmp_path / "scans"
    folder.mkdir()
    good = write_scan(folder / "good.tif")
    (folder / "cut.tif").write_bytes(good.read_bytes()[: len(good.read_bytes()) // 3])
    code, output = run_s4(home, "run", "--batch", "run-1", "--box", "BOX-7", str(folder))
    assert code == 1, output
    database = store_db.connect(home.database)
    (cut,) = [d for d in store_db.documents(database, "run-1") if d["source_name"] == "cut.tif"]
    assert cut["state"] == "quarantined"
    assert str(home.work) not in cut["quarantine_reason"]  # that copy is gone
    reason_file = (home.quarantine / cut["id"] / "REASON.txt").read_text()
    assert f"s4 retry {cut['id']}" in reason_file and f"s4 rescan {cut['id']}" in reason_file
    code, output = run_s4(home, "status", "BOX-7")
    assert code == 0 and "Box BOX-7" in output and "good.tif" in output and "cut.tif" in output
    code, output = run_s4(home, "status", "BOX-8")
    assert code == 2 and "no batch or box 'BOX-8'" in output


def test_run_on_a_folder_without_scans_says_so_and_records_nothing(home, tmp_path):
    empty = tmp_path / "box-empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"junk")  # ignored, so still nothing to do
    code, output = run_s4(home, "run", "--batch", "b-empty", str(empty))
    assert code == 2 and "no scans found" in output, output
    database = store_db.connect(home.database)
    assert store_db.get_batch(database, "b-empty") is None
