"""Executable content in PDFs: find it, strip it, and check that none is left.

A record for the archive must not run anything when it is opened. ``strip_active_content``
removes what a PDF can execute or launch (scripts, automatic actions, embedded files,
program-launching links, multimedia, XFA forms) and says what it removed, in words a records
manager can read. ``find_active_content`` is the independent check run on the prepared copy
and on the finished output: it looks at every object, not just the places the stripper knows.

What is kept, and why: navigation inside the document (destinations, GoTo actions, named
actions such as "next page") and ``URI`` links a reader must click (a web address printed
in a letter is part of the record). A ``URI`` *open action* is removed: it would contact a
web site by itself every time the record is viewed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

import pikepdf

# Actions that run code, start programs, send data out or open other files.
DANGEROUS_ACTIONS = {
    "/JavaScript": "JavaScript", "/Launch": "launches a program",
    "/SubmitForm": "sends form data", "/ImportData": "imports data",
    "/GoToE": "opens an embedded file", "/GoToR": "opens another file",
    "/RichMediaExecute": "runs rich media", "/Rendition": "plays media",
    "/Movie": "plays a movie", "/Sound": "plays a sound",
}
# Annotation kinds that are only containers for media, files or 3-D scripts.
MEDIA_ANNOTATIONS = {"/RichMedia", "/Movie", "/Sound", "/Screen", "/3D"}
# An open action of these kinds only moves the view inside the document.
NAVIGATION_ACTIONS = {"/GoTo", "/Named"}


def _is_dict(obj: object) -> bool:
    return isinstance(obj, pikepdf.Dictionary | pikepdf.Stream)


def _action_kinds(action: object) -> list[str]:
    """Every action type in an action and its /Next chain, e.g. ["/JavaScript", "/URI"]."""
    kinds: list[str] = []
    pending, seen = [action], 0
    while pending and seen < 100:  # a malicious /Next loop must not hang the worker
        seen += 1
        current = pending.pop()
        if isinstance(current, pikepdf.Array):
            pending.extend(current)
            continue
        if not _is_dict(current):
            continue
        kind = current.get("/S")
        if kind is not None:
            kinds.append(str(kind))
        if "/Next" in current:
            pending.append(current["/Next"])
    return kinds


def _dangerous(action: object) -> list[str]:
    return [kind for kind in _action_kinds(action) if kind in DANGEROUS_ACTIONS]


def _text(value: object, fallback: str) -> str:
    try:
        text = str(value) if value is not None else ""
    except (ValueError, TypeError):
        text = ""
    text = " ".join(text.split())[:80]
    return text or fallback


def _file_name(filespec: object) -> str:
    if _is_dict(filespec):
        for key in ("/UF", "/F", "/Desc"):
            if key in filespec:
                return _text(filespec[key], "unnamed")
    return _text(filespec, "unnamed")


def _kind_words(kinds: list[str]) -> str:
    return ", ".join(dict.fromkeys(k.lstrip("/") for k in kinds))


def summarise(items: list[str]) -> list[str]:
    """["link on page 1 (Launch)"] * 3 -> ["link on page 1 (Launch) ×3"], first-seen order."""
    counts = Counter(items)
    return [item if counts[item] == 1 else f"{item} ×{counts[item]}" for item in counts]


def strip_active_content(pdf: pikepdf.Pdf) -> list[str]:
    """Remove executable content from ``pdf`` in memory; return what was removed."""
    removed: list[str] = []
    root = pdf.Root
    open_action = root.get("/OpenAction")
    if _is_dict(open_action) and str(open_action.get("/S")) not in NAVIGATION_ACTIONS:
        removed.append(f"document open action ({_kind_words(_action_kinds(open_action))})")
        del root["/OpenAction"]
    if "/AA" in root:
        removed.append("document automatic actions")
        del root["/AA"]
    names = root.get("/Names")
    if _is_dict(names):
        if "/JavaScript" in names:
            scripts = list(pikepdf.NameTree(names["/JavaScript"]).keys())
            removed.extend(f"document JavaScript '{_text(name, 'unnamed')}'" for name in scripts)
            if not scripts:
                removed.append("document JavaScript")
            del names["/JavaScript"]
        if "/EmbeddedFiles" in names:
            files = [_file_name(spec) for _name, spec in
                     pikepdf.NameTree(names["/EmbeddedFiles"]).items()]
            removed.extend(f"embedded file '{name}'" for name in files)
            if not files:
                removed.append("embedded files")
            del names["/EmbeddedFiles"]
    removed.extend(_strip_associated_files(root, "the document", removed))
    for number, page in enumerate(pdf.pages, start=1):
        removed.extend(_strip_associated_files(page.obj, f"page {number}", removed))
        removed.extend(_strip_page(page.obj, number))
    removed.extend(_strip_form(root))
    removed.extend(_strip_outlines(root))
    return summarise(removed)


def _strip_associated_files(holder: pikepdf.Dictionary, where: str,
                            already: list[str]) -> list[str]:
    """PDF 2.0 / PDF/A-3 "associated files" (/AF): embedded files by another route."""
    if "/AF" not in holder:
        return []
    specs = holder["/AF"]
    names = [_file_name(spec) for spec in (specs if isinstance(specs, pikepdf.Array) else [specs])]
    del holder["/AF"]
    # The same file is usually in the EmbeddedFiles tree too: name it once.
    return [f"embedded file '{name}'" if where == "the document" else
            f"embedded file '{name}' on {where}" for name in names
            if f"embedded file '{name}'" not in already]


def _strip_page(page: pikepdf.Dictionary, number: int) -> list[str]:
    removed: list[str] = []
    if "/AA" in page:
        removed.append(f"automatic actions of page {number}")
        del page["/AA"]
    annots = page.get("/Annots")
    if not isinstance(annots, pikepdf.Array):
        return removed
    kept = pikepdf.Array()
    for annot in annots:
        if not _is_dict(annot):
            continue
        subtype = str(annot.get("/Subtype"))
        if subtype == "/FileAttachment":
            removed.append(f"file attachment '{_file_name(annot.get('/FS'))}' on page {number}")
            continue
        if subtype in MEDIA_ANNOTATIONS:
            removed.append(f"{subtype.lstrip('/')} annotation on page {number}")
            continue
        bad = _dangerous(annot.get("/A")) if "/A" in annot else []
        if subtype == "/Link" and bad:
            removed.append(f"link on page {number} ({_kind_words(bad)})")
            continue
        if bad:  # a form widget's picture shows the filled-in value: keep it, drop the action
            removed.append(f"{subtype.lstrip('/')} action on page {number} ({_kind_words(bad)})")
            del annot["/A"]
        if "/AA" in annot:
            removed.append(f"automatic actions of a {subtype.lstrip('/')} on page {number}")
            del annot["/AA"]
        kept.append(annot)
    if len(kept) != len(annots):
        page["/Annots"] = kept
    return removed


def _strip_form(root: pikepdf.Dictionary) -> list[str]:
    form = root.get("/AcroForm")
    if not _is_dict(form):
        return []
    removed: list[str] = []
    if "/XFA" in form:
        removed.append("XFA form (scripted form)")
        del form["/XFA"]
    pending = list(form.get("/Fields", pikepdf.Array()))
    visited = 0
    while pending and visited < 100_000:
        visited += 1
        field = pending.pop()
        if not _is_dict(field):
            continue
        name = _text(field.get("/T"), "unnamed")
        if "/AA" in field:
            removed.append(f"automatic actions of form field '{name}'")
            del field["/AA"]
        if "/A" in field and (bad := _dangerous(field["/A"])):
            removed.append(f"action of form field '{name}' ({_kind_words(bad)})")
            del field["/A"]
        pending.extend(field.get("/Kids", pikepdf.Array()))
    return removed


def _strip_outlines(root: pikepdf.Dictionary) -> list[str]:
    outlines = root.get("/Outlines")
    if not _is_dict(outlines):
        return []
    removed: list[str] = []
    pending = [outlines.get("/First")]
    seen: set[tuple[int, int]] = set()
    while pending:
        item = pending.pop()
        if not _is_dict(item) or (item.is_indirect and item.objgen in seen):
            continue
        if item.is_indirect:
            seen.add(item.objgen)
        if "/A" in item and (bad := _dangerous(item["/A"])):
            removed.append(f"bookmark '{_text(item.get('/Title'), 'unnamed')}' action "
                           f"({_kind_words(bad)})")
            del item["/A"]
        pending.extend(item.get(key) for key in ("/First", "/Next") if key in item)
    return removed


def _walk_direct(obj: object, depth: int = 0) -> Iterator[object]:
    """``obj`` and every dictionary or array held directly in it (not via references,
    which ``find_active_content`` visits as objects of their own)."""
    if depth > 50:
        return
    yield obj
    if _is_dict(obj):
        values = (value for _key, value in obj.items())
    elif isinstance(obj, pikepdf.Array):
        values = iter(obj)
    else:
        return
    for value in values:
        if isinstance(value, pikepdf.Dictionary | pikepdf.Array) and not value.is_indirect:
            yield from _walk_direct(value, depth + 1)


def find_active_content(pdf: pikepdf.Pdf) -> list[str]:
    """Every trace of executable content in any object of ``pdf``: the check after stripping.

    Open the file from disk (not the stripped copy still in memory): saving drops objects
    nothing refers to, and only what is written can ever run.
    """
    found: list[str] = []
    open_action = pdf.Root.get("/OpenAction")
    if _is_dict(open_action) and str(open_action.get("/S")) not in NAVIGATION_ACTIONS:
        found.append(f"document open action ({_kind_words(_action_kinds(open_action))})")
    names = pdf.Root.get("/Names")
    if _is_dict(names):
        found.extend(f"{key.lstrip('/')} name tree" for key in ("/JavaScript", "/EmbeddedFiles")
                     if key in names)
    form = pdf.Root.get("/AcroForm")
    if _is_dict(form) and "/XFA" in form:
        found.append("XFA form")
    for indirect in pdf.objects:
        for obj in _walk_direct(indirect):
            if not _is_dict(obj):
                continue
            kind = str(obj.get("/S"))
            if kind in DANGEROUS_ACTIONS:
                found.append(f"{kind.lstrip('/')} action")
            elif "/JS" in obj:
                found.append("JavaScript")
            if "/AA" in obj:
                found.append("automatic actions")
            if str(obj.get("/Type")) == "/EmbeddedFile" or "/EF" in obj:
                found.append("embedded file")
            subtype = str(obj.get("/Subtype"))
            if subtype == "/FileAttachment" or subtype in MEDIA_ANNOTATIONS:
                found.append(f"{subtype.lstrip('/')} annotation")
    return summarise(found)
