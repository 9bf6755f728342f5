"""The ``s4`` command line: one module per command group, over ``s4.cli.common``.

Every command has ``--help`` with an example. Exit status: see ``s4.cli.common``.
"""

from __future__ import annotations

import click

from s4 import __version__
from s4.cli.audit import audit
from s4.cli.common import EXIT_ENVIRONMENT, EXIT_USAGE, Context, S4Group, fail, out, setup_logging
from s4.cli.documents import export, show, status
from s4.cli.line import rescan, retry, run, watch
from s4.cli.paper import paper
from s4.cli.qa import qa
from s4.cli.retention import hold, retention
from s4.cli.review import classify_group, review
from s4.cli.sheets import sheets
from s4.cli.store import store
from s4.cli.users import serve, user
from s4.cli.worker import worker
from s4.config import ConfigError, Home
from s4.home import initialise


@click.group(cls=S4Group,
             context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--home", "home_path", envvar="S4_HOME", type=click.Path(file_okay=False),
              help="S4 home directory (default: $S4_HOME, else ~/s4).")
@click.option("-v", "--verbose", is_flag=True, help="Log every step, not just problems.")
@click.version_option(__version__, prog_name="s4")
@click.pass_context
def cli(ctx: click.Context, home_path: str | None, verbose: bool) -> None:
    """S4 — Scan it, Scrap it, Store it.

    Turns scanned council records into searchable PDF/A, files them under the retention
    schedule, and keeps an audit trail from scan to the paper's destruction.

    \b
    Example:
      s4 --home /srv/s4 init
      s4 --home /srv/s4 run --batch box-0042 /scans/box-0042
      s4 --home /srv/s4 status

    \b
    Exit status: 0 success; 1 some documents quarantined; 2 usage or configuration
    error; 3 environment problem (disk full, unwritable folder, home in use).
    """
    home = Home.locate(home_path)
    setup_logging(home if home.exists() else None, verbose)
    ctx.obj = Context(home, verbose)


# --------------------------------------------------------------------------- init


@cli.command()
@click.pass_obj
def init(obj: Context) -> None:
    """Create the S4 home: settings, folders, database, editable pipelines and schedules.

    Safe to run again: it only adds what is missing and never overwrites an edited file.

    \b
    Example:
      s4 --home /srv/s4 init
    """
    try:
        created = initialise(obj.home)
    except OSError as exc:
        fail(f"cannot create {obj.home.root}: {exc.strerror}", EXIT_ENVIRONMENT)
    if created:
        out.print(f"Initialised S4 home [bold]{obj.home.root}[/]")
        for item in created:
            out.print(f"  created {item}", highlight=False)
    else:
        out.print(f"S4 home {obj.home.root} is already complete; nothing changed.")
    out.print(f"Next: drop scans into {obj.home.inbox} and run `s4 watch`, or `s4 run PATH`.",
              highlight=False)



for command in (run, watch, status, show, retry, rescan, export, store, retention, hold, audit,
                paper, qa, review, classify_group, user, serve, sheets, worker):
    cli.add_command(command)


def main() -> None:
    try:
        cli.main(standalone_mode=True)
    except ConfigError as exc:
        fail(str(exc), EXIT_USAGE)
