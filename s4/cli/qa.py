"""``s4 qa …``: the pages a person must check before paper goes, and their verdicts."""

from __future__ import annotations

import click
from rich.table import Table

from s4.cli import common
from s4.errors import S4Error, exit_code_for
from s4.services import qa as qa_service


def _run(service, *args, **kwargs):
    from s4.config import ConfigError

    try:
        return service(*args, **kwargs)
    except (S4Error, ConfigError) as exc:
        common.fail(str(exc), exit_code_for(exc))


@click.group()
def qa() -> None:
    """QA of digital copies: sampled and flagged pages, passed or failed page by page.

    \b
    Example:
      s4 qa list --box box-0042
      s4 qa pass D000012 2 --reason "checked against the paper"
      s4 qa fail D000012 3 --reason "bottom lines cut off"
    """


@qa.command("list")
@click.option("--box", default=None, help="Only this box; draws its sample if not drawn.")
@click.pass_obj
def qa_list(obj, box: str | None) -> None:
    """List the pages waiting for a person: sampled and flagged, not yet passed.

    With --box, the box's sample is drawn first for any page no sample covers yet.
    """
    with obj.context() as ctx:
        if box:
            for note in _run(qa_service.draw, ctx, box).notes:
                common.out.print(note, highlight=False)
        pages = _run(qa_service.queue, ctx, box)
    if not pages:
        common.out.print("No pages waiting for QA.")
        return
    table = Table(title="Pages to check", title_justify="left")
    for column in ("box", "document", "page", "why", "verdict"):
        table.add_column(column, overflow="fold")
    for page in pages:
        why = (["sampled"] if page.sampled else []) + [
            f"{flag['check']}: {flag['reason']}" for flag in page.flags]
        table.add_row(page.box or "", page.doc_id, str(page.page_no), "; ".join(why),
                      page.result or "not checked")
    common.out.print(table)


def _verdict(obj, doc: str, page: int, passed: bool, reason: str, who: str | None) -> None:
    doc_id = common.doc_id_or_fail(doc)
    ctx = obj.context()
    with (ctx.acting_as(who) if who else ctx) as acting:
        outcome = _run(qa_service.verdict, acting, doc_id, page, passed, reason)
    common.out.print(f"{doc_id} page {page}: QA {'passed' if passed else 'failed'}.",
                     highlight=False)
    for note in outcome.notes:
        common.out.print(note, highlight=False)


@qa.command("pass")
@click.argument("doc")
@click.argument("page", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="What was checked, against what.")
@click.option("--as", "who", default=None, help="Who checked (default: your login name).")
@click.pass_obj
def qa_pass(obj, doc: str, page: int, reason: str, who: str | None) -> None:
    """Pass one page: its digital copy matches the paper."""
    _verdict(obj, doc, page, True, reason, who)


@qa.command("fail")
@click.argument("doc")
@click.argument("page", type=click.IntRange(min=1))
@click.option("--reason", required=True, help="What is wrong with the page.")
@click.option("--as", "who", default=None, help="Who checked (default: your login name).")
@click.pass_obj
def qa_fail(obj, doc: str, page: int, reason: str, who: str | None) -> None:
    """Fail one page: the document must be rescanned (exit status 1)."""
    _verdict(obj, doc, page, False, reason, who)
    raise SystemExit(1)
