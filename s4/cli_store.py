"""``s4 store …`` commands."""

from __future__ import annotations

import click


@click.group()
def store() -> None:
    """Where filed records go: the local folder or SharePoint.

    \\b
    Example:
      s4 store check
    """
