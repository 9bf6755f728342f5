"""``s4 sheets``: print separator and box cover sheets for the scanning room."""

from __future__ import annotations

from pathlib import Path

import click

from s4.cli.common import EXIT_ENVIRONMENT, EXIT_USAGE, fail, out
from s4.sheets import BadBoxId, box_sheets, separator_sheets


@click.group()
def sheets() -> None:
    """Printable A4 sheets that tell S4 where documents and boxes start in a scanned stack.

    Used by pipelines with `capture: separation: sheet`.

    \b
    Example:
      s4 sheets separator --count 20 -o separators.pdf
      s4 sheets box BOX-0042 -o box-0042.pdf
    """


def _write(target: Path, data: bytes, what: str) -> None:
    try:
        target.write_bytes(data)
    except OSError as exc:
        fail(f"cannot write {target}: {exc.strerror}", EXIT_ENVIRONMENT)
    out.print(f"Wrote {what} to {target}", highlight=False)


@sheets.command("separator")
@click.option("--count", type=click.IntRange(1, 500), default=1, show_default=True,
              help="How many sheets (one page each).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="PDF file to write.")
def separator(count: int, output: Path) -> None:
    """Separator sheets: put one in front of each document of a stack.

    \b
    Example:
      s4 sheets separator --count 20 -o separators.pdf
    """
    _write(output, separator_sheets(count), f"{count} separator sheet(s)")


@sheets.command("box")
@click.argument("box_id")
@click.option("--count", type=click.IntRange(1, 500), default=1, show_default=True,
              help="How many sheets (one page each).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              required=True, help="PDF file to write.")
def box(box_id: str, count: int, output: Path) -> None:
    """A box cover sheet: put it on top of the documents of box BOX_ID.

    Every document after it in a scan is recorded in this box, whatever box the batch names.

    \b
    Example:
      s4 sheets box BOX-0042 -o box-0042.pdf
    """
    try:
        data = box_sheets(box_id, count)
    except BadBoxId as exc:
        fail(str(exc), EXIT_USAGE)
    _write(output, data, f"{count} box cover sheet(s) for {box_id}")
