"""``s4 user …`` (accounts for the desk) and ``s4 serve`` (the desk itself).

Thin: the rules live in s4/accounts.py and the pages in s4/web/.
"""

from __future__ import annotations

import sys

import click
from rich.table import Table

from s4 import accounts
from s4 import db as store_db
from s4.cli import common

EXIT_OK, EXIT_USAGE, EXIT_ENVIRONMENT = 0, 2, 3



def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat the password")


def _account_action(action) -> None:
    try:
        action()
    except accounts.AccountError as exc:
        common.fail(str(exc), EXIT_USAGE)


@click.group()
def user() -> None:
    """Accounts for the desk (`s4 serve`): add, list, disable, set a password.

    Roles: operator (batches and paper QA), records-manager (classification, retention,
    holds, destruction), auditor (reads everything, changes nothing), admin (accounts).
    A person may hold several. Every change is an audit event.

    \b
    Example:
      s4 user add jane.smith --role records-manager
      s4 user list
    """


@user.command("add")
@click.argument("name")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(accounts.ROLES), help="A role (repeat for several).")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
@click.pass_obj
def user_add(obj, name: str, roles: tuple[str, ...], password_stdin: bool) -> None:
    """Create an account. Without --password-stdin the password is asked for twice, hidden.

    \b
    Example:
      s4 user add jane.smith --role records-manager --role auditor
      printf '%s\\n' "$PASSWORD" | s4 user add ops1 --role operator --password-stdin
    """
    database = obj.database()
    password = _read_password(password_stdin)
    added: list[str] = []
    _account_action(lambda: added.append(accounts.add_user(
        database, name, list(roles), password, store_db.default_actor())))
    common.out.print(f"Added {added[0]} ({', '.join(roles)}).", highlight=False)


@user.command("list")
@click.pass_obj
def user_list(obj) -> None:
    """Every account: roles, disabled, locked, last sign-in (UTC).

    \b
    Example:
      s4 user list
    """
    database = obj.database()
    now = accounts.utc_now()
    table = Table()
    for column in ("name", "roles", "disabled", "locked", "last sign-in"):
        table.add_column(column)
    for row in store_db.list_users(database):
        table.add_row(row["name"], ", ".join(row["roles"]), "yes" if row["disabled"] else "",
                      f"until {row['locked_until'][:16]}" if accounts.is_locked(row, now)
                      else "", (row["last_sign_in"] or "never")[:16].replace("T", " "))
    common.out.print(table)


@user.command("disable")
@click.argument("name")
@click.pass_obj
def user_disable(obj, name: str) -> None:
    """Stop an account signing in; its open sessions end at once. Its history stays.

    \b
    Example:
      s4 user disable jane.smith
    """
    database = obj.database()
    _account_action(lambda: accounts.disable_user(database, name, store_db.default_actor()))
    common.out.print(f"Disabled {name}.", highlight=False)


@user.command("password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
@click.pass_obj
def user_password(obj, name: str, password_stdin: bool) -> None:
    """Set a new password; this also lifts a lock-out and ends the account's sessions.

    \b
    Example:
      s4 user password jane.smith
    """
    database = obj.database()
    password = _read_password(password_stdin)
    _account_action(lambda: accounts.set_password(database, name, password,
                                                  store_db.default_actor()))
    common.out.print(f"New password set for {name}.", highlight=False)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on (keep 127.0.0.1 behind a reverse proxy).")
@click.option("--port", default=8440, show_default=True, type=click.IntRange(1, 65535))
@click.pass_obj
def serve(obj, host: str, port: int) -> None:
    """Run the desk: the web pages for operators, records managers and auditors.

    Runs beside `s4 watch` on the same home: it never takes the home's lock. Create
    accounts first with `s4 user add`. For https, put a reverse proxy in front (see
    deploy/nginx-s4.conf) and set `https = true` under [web] in s4.toml.

    \b
    Example:
      s4 --home /srv/s4 serve --port 8440
    """
    import uvicorn

    from s4.config import ConfigError
    from s4.web.app import create_app

    obj.database().conn.close()  # a home, migrated, in its place: or a clear error
    try:
        app = create_app(obj.home)
    except ConfigError as exc:
        common.fail(str(exc), EXIT_USAGE)
    try:
        uvicorn.run(app, host=host, port=port, log_level="info", access_log=False,
                    server_header=False)
    except OSError as exc:
        common.fail(f"cannot listen on {host}:{port}: {exc.strerror}", EXIT_ENVIRONMENT)
