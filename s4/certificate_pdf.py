"""The disposal certificate as a PDF a person can read, check and sign off.

Page 1 is the summary (who, what, when, how, totals, the audit seal, signature lines);
the pages after it list every record. The JSON certificate is the machine-readable twin.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")

# The class column of a certificate row for junk a records manager declared not a record
# (here, not in s4.disposal, so the certificate can be drawn without importing disposal).
JUNK_CLASS_LABEL = "(not a record)"


class _CertificatePdf(FPDF):
    def __init__(self, certificate_id: str):
        super().__init__(orientation="P", unit="mm", format="A4")
        self.certificate_id = certificate_id
        self.set_auto_page_break(auto=True, margin=15)
        self.set_creator("S4")
        self.set_title(f"Certificate of destruction {certificate_id}")
        regular, bold = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
        if regular.exists() and bold.exists():
            self.add_font("body", "", str(regular))
            self.add_font("body", "B", str(bold))
            self.family = "body"
        else:  # core font: Latin-1 only
            self.family = "helvetica"

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(self.family, "", 8)
        self.cell(0, 6, f"{self.certificate_id} — page {self.page_no()}/{{nb}}", align="C")


def _text(value: Any) -> str:
    return "—" if value in (None, "") else str(value)


def _custody(row: dict[str, Any]) -> str:
    """Where a record's pages were in the scanner's file (rows of older certificates have
    no such fields)."""
    if not row.get("source_file"):
        return "—"
    text = f"{row['source_file']}\nSHA-256 {_text(row.get('source_sha256'))[:16]}…"
    if row.get("scan_pages"):
        text += f"\npages {row['scan_pages']}"
    left_out = "; ".join(f"{d['page']}: {d['reason']}" for d in row.get("dropped_pages") or [])
    return text + (f"\nleft out {left_out}" if left_out else "")


def render_certificate(certificate: dict[str, Any]) -> bytes:
    pdf = _CertificatePdf(certificate["certificate"])
    if pdf.family == "helvetica":
        def clean(text: str) -> str:
            return text.encode("latin-1", "replace").decode("latin-1")
    else:
        def clean(text: str) -> str:
            return text
    pdf.alias_nb_pages()
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 16)
    pdf.multi_cell(0, 9, clean(f"Certificate of destruction of paper originals\n"
                               f"{certificate['council']}"), new_x=XPos.LMARGIN,
                   new_y=YPos.NEXT)
    pdf.ln(3)
    pdf.set_font(pdf.family, "", 10)
    seal = certificate.get("seal", {})
    summary = [
        ("Certificate", certificate["certificate"]),
        ("Boxes", ", ".join(certificate["boxes"])),
        ("Destroyed at (UTC)", certificate["destroyed_at"]),
        ("Method", certificate["method"]),
        ("Operator", certificate["operator"]),
        ("Witness", certificate["witness"]),
        ("Contractor", certificate.get("contractor")),
        ("Contractor's certificate", certificate.get("contractor_certificate")),
        ("Records", certificate["totals"]["records"]),
        ("Pages", certificate["totals"]["pages"]),
        ("Issued by", f"S4 {certificate['s4_version']}"),
        ("Audit seal (entry)", seal.get("audit_seq")),
        ("Audit seal (hash)", seal.get("audit_hash")),
        ("Certificate body SHA-256", seal.get("body_sha256")),
    ]
    for label, value in summary:
        pdf.set_font(pdf.family, "B", 10)
        pdf.cell(55, 6, clean(label))
        pdf.set_font(pdf.family, "", 10)
        pdf.multi_cell(0, 6, clean(_text(value)), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    junk = any(row.get("record_class") == JUNK_CLASS_LABEL for row in certificate["records"])
    pdf.multi_cell(0, 5, clean(
        "Each paper original listed overleaf had a digital copy stored and verified by "
        "SHA-256 before destruction, had passed OCR quality checks, was past its paper "
        "quarantine period, was under no hold, and belonged to a record class that allows "
        "the paper to be destroyed."
        + (f" Except rows marked {JUNK_CLASS_LABEL}: papers a records manager declared not to "
           "be records (junk found in the box), which were checked only for holds."
           if junk else "")
        + " Check this certificate with `s4 audit verify`."),
        new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(10)
    for role in ("Operator", "Witness", "Records manager"):
        pdf.cell(60, 8, clean(f"{role}:"))
        pdf.cell(70, 8, "signature ______________________")
        pdf.cell(0, 8, "date ____________", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.ln(2)
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 12)
    pdf.cell(0, 8, "Records destroyed", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.set_font(pdf.family, "", 7)
    with pdf.table(col_widths=(14, 12, 10, 18, 16, 30, 34, 52), text_align="LEFT",
                   line_height=3.6) as table:
        table.row(["S4 id", "box/pos", "pages", "class", "rule", "stored location",
                   "scanned as (file, scan pages, left out)", "stored SHA-256 / verified at"])
        for row in certificate["records"]:
            table.row([
                row["s4_id"], f"{row['box']}/{row['position']}", _text(row["pages"]),
                _text(row["record_class"]),
                clean(f"{_text(row['rule_id'])} ({_text(row['schedule_version'])[:10]})"),
                clean(_text(row["stored_location"])),
                clean(_custody(row)),
                f"{_text(row['stored_sha256'])}\n{_text(row['verified_at'])}",
            ])
    _qa_pages(pdf, certificate.get("qa") or [], clean)
    return bytes(pdf.output())


def _qa_pages(pdf: FPDF, boxes: list[dict[str, Any]], clean: Any) -> None:
    """The QA that released each box: sampling rule and seed, and every page checked."""
    if not boxes:
        return
    pdf.add_page()
    pdf.set_font(pdf.family, "B", 12)
    pdf.cell(0, 8, "Quality assurance before destruction", new_x=XPos.LMARGIN,
             new_y=YPos.NEXT)
    for box in boxes:
        pdf.set_font(pdf.family, "B", 9)
        pdf.cell(0, 6, clean(f"Box {box['box']}"), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        pdf.set_font(pdf.family, "", 8)
        for sample in box["samples"]:
            rule = sample["rule"]
            pdf.multi_cell(0, 4.5, clean(
                f"Sample drawn {sample['drawn_at']} by {sample['drawn_by']}: "
                f"{len(sample['pages'])} of {sample['population_pages']} pages, "
                f"{rule['level']} inspection ({rule['rate']:.0%}, at least {rule['minimum']}), "
                f"order: {rule['order']}, seed {sample['seed']}."),
                new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if box["pages_checked"]:
            with pdf.table(col_widths=(18, 10, 30, 14, 30, 36, 52), text_align="LEFT",
                           line_height=3.6) as table:
                table.row(["S4 id", "page", "why", "result", "by", "at", "reason"])
                for page in box["pages_checked"]:
                    why = ", ".join((["sampled"] if page["sampled"] else []) + page["flags"])
                    table.row([page["s4_id"], str(page["page"]), clean(why),
                               _text(page["result"]), clean(_text(page["by"])),
                               _text(page["at"]), clean(_text(page["reason"]))])
        pdf.ln(3)
