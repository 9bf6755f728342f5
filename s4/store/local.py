"""The default store: a folder (``store/`` in the S4 home) laid out by the folder template.

Each record is written atomically (a temporary file in the same folder, fsynced, then
hard-linked into place, which fails rather than overwrites if the name exists) with a JSON
metadata sidecar beside it: ``D000012 - scan_0001.pdf`` and ``D000012 - scan_0001.pdf.json``.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

from s4 import db as store_db
from s4.store.base import (
    CheckLine,
    Journal,
    NameLimits,
    Outcome,
    RecordProblem,
    StoreUnavailable,
    Upload,
    VerifyResult,
)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def write_atomically(target: Path, data: bytes | None = None, source: Path | None = None,
                     replace: bool = False) -> bool:
    """Write ``data`` (or copy ``source``) to ``target`` so that a reader never sees a partial
    file. With ``replace=False`` an existing target is left alone and False is returned."""
    # Short whatever the target's length, so a name that fits its limit always can be written.
    tag = hashlib.sha256(target.name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    temporary = target.with_name(f".{tag}.{os.getpid()}.part")
    try:
        with temporary.open("wb") as handle:
            if source is not None:
                with source.open("rb") as reader:
                    shutil.copyfileobj(reader, handle, 1024 * 1024)
            else:
                handle.write(data or b"")
            handle.flush()
            os.fsync(handle.fileno())
        if replace:
            os.replace(temporary, target)
        else:
            try:
                os.link(temporary, target)  # atomic, and refuses to overwrite
            except FileExistsError:
                return False
        _fsync_dir(target.parent)
        return True
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


# A write that fails with one of these is this record's problem (its name, or a clash in
# its own folder path), not the store's: the record is quarantined and the others go on.
# Anything else (no space, read-only, permission, I/O, an unmounted share) stops the queue.
RECORD_ERRNOS = {errno.ENAMETOOLONG, errno.EILSEQ, errno.EINVAL, errno.EFBIG, errno.ENOTDIR,
                 errno.EISDIR, errno.EEXIST}


def _os_limit(folder: Path, name: str, default: int) -> int:
    """NAME_MAX / PATH_MAX of the file system holding ``folder`` (or its nearest ancestor)."""
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            with contextlib.suppress(OSError, ValueError):
                return int(os.pathconf(candidate, name))
            break
    return default


class LocalBackend:
    name = "local"
    path_prefix = ""

    def __init__(self, root: Path):
        self.root = root

    @property
    def limits(self) -> NameLimits:
        """SharePoint's character rules (so both stores lay records out alike) and the file
        system's byte limits, leaving room in each name for the ``.json`` sidecar."""
        return NameLimits(component_bytes=_os_limit(self.root, "PC_NAME_MAX", 255),
                          path_bytes=_os_limit(self.root, "PC_PATH_MAX", 4096) - 1,
                          root_bytes=len(os.fsencode(self.root.resolve())) + 1,
                          companion=".json")

    def _write_error(self, exc: OSError, what: Path) -> Exception:
        if exc.errno in RECORD_ERRNOS:
            return RecordProblem(
                f"the store folder refused {what} ({exc.strerror}); S4 already shortens "
                "names to the file system's limits, so check the folder template and the "
                f"store folder {self.root} (a network or encrypted file system may allow "
                "shorter names or fewer characters), then run "
                "`s4 store sync --retry-conflicts`")
        return StoreUnavailable(f"cannot write to the store folder {what.parent}: "
                                f"{exc.strerror}")

    def close(self) -> None:
        pass

    def check(self) -> list[CheckLine]:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            probe = self.root / f".s4-check-{os.getpid()}"
            probe.write_bytes(b"ok")
            probe.unlink()
        except OSError as exc:
            return [CheckLine("folder", False, f"{self.root}: {exc.strerror}",
                              "make the folder writable by the S4 user, or set [store.local] "
                              "path to one that is")]
        free = shutil.disk_usage(self.root).free / 1024**3
        return [CheckLine("folder", True, f"{self.root} is writable ({free:.1f} GiB free)")]

    def store(self, upload: Upload, journal: Journal) -> Outcome:
        folder = self.root.joinpath(*upload.folder)
        target = folder / upload.name
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise self._write_error(exc, folder) from None
        try:
            source = upload.path.open("rb")
        except OSError as exc:
            raise RecordProblem(f"the PDF/A to store ({upload.path}) cannot be read: "
                                f"{exc.strerror}; fix its permissions or rescan the paper, "
                                "then run `s4 store sync --retry-conflicts`") from None
        source.close()
        try:
            written = write_atomically(target, source=upload.path)
        except OSError as exc:
            raise self._write_error(exc, target) from None
        if not written:
            existing = sha256_of(target)
            if existing != upload.sha256:
                return Outcome(
                    "conflict", location=str(target),
                    detail=(f"a different file named {upload.name!r} is already in the store "
                            f"at {target} (its SHA-256 is {existing[:12]}…, this record's is "
                            f"{upload.sha256[:12]}…); S4 never overwrites. Check which is "
                            "right, move the other file away, then run "
                            "`s4 store sync --retry-conflicts`."))
        journal.set(state="committed", item_id=upload.relative_path, location=str(target))
        sidecar = target.with_name(target.name + ".json")
        metadata: dict[str, Any] = {**upload.metadata, "stored_at": store_db.now(),
                                    "location": str(target)}
        try:
            write_atomically(sidecar, json.dumps(metadata, indent=2, ensure_ascii=False)
                             .encode("utf-8") + b"\n", replace=True)
        except OSError as exc:
            raise self._write_error(exc, sidecar) from None
        journal.set(state="fields_set")
        result = self._check_file(target, upload.size, upload.sha256)
        if not result.ok:
            return Outcome("conflict", location=str(target),
                           detail=f"the stored copy at {target} does not match after writing "
                                  f"({result.detail}); check the disk, then run "
                                  "`s4 store sync --retry-conflicts`.")
        return Outcome("uploaded" if written else "already_present", location=str(target),
                       item_id=upload.relative_path, verify_method=result.method)

    def update_metadata(self, doc: dict[str, Any], metadata: dict[str, Any]) -> None:
        """Rewrite the sidecar with the record's current decision (the file is untouched)."""
        sidecar = Path(doc["store_location"] + ".json")
        if not Path(doc["store_location"]).is_file():
            raise RecordProblem(f"{doc['id']}: its stored file {doc['store_location']} is "
                                f"missing; run `s4 store verify {doc['id']}`")
        try:
            current = json.loads(sidecar.read_text(encoding="utf-8")) if sidecar.exists() else {}
            current |= metadata | {"metadata_updated_at": store_db.now()}
            write_atomically(sidecar, json.dumps(current, indent=2, ensure_ascii=False)
                             .encode("utf-8") + b"\n", replace=True)
        except OSError as exc:
            raise StoreUnavailable(f"cannot write {sidecar}: {exc.strerror}") from None

    def _check_file(self, target: Path, size: int | None, sha256: str | None) -> VerifyResult:
        method = "size+sha256"
        if not target.is_file():
            return VerifyResult(False, method, f"{target} is missing")
        actual_size = target.stat().st_size
        if size is not None and actual_size != size:
            return VerifyResult(False, method, f"size {actual_size} bytes, expected {size}")
        actual = sha256_of(target)
        if actual != sha256:
            return VerifyResult(False, method, f"SHA-256 {actual[:12]}…, expected "
                                               f"{(sha256 or '')[:12]}…")
        return VerifyResult(True, method)

    def verify(self, doc: dict[str, Any], journal: Journal, deep: bool) -> VerifyResult:
        # Reading a local file back is cheap, so the normal check already hashes it all.
        return self._check_file(Path(doc["store_location"]), doc.get("stored_size"),
                                doc.get("stored_sha256") or journal.get("sha256"))
