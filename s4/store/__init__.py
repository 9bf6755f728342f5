"""Store stage: put each filed record (PDF/A + metadata) in the configured store, verified.

Backends: ``local`` (default) and ``sharepoint`` (Microsoft Graph). The pipeline hands
records over through ``StoreWorker``; ``s4 store sync`` drains the same queue by hand.
"""

from __future__ import annotations


class StoreWorker:
    """Uploads filed records in the background so OCR never waits for the store.

    Placeholder until the store stage lands: it accepts notifications and does nothing.
    """

    def __init__(self, home, actor: str):
        self.home = home
        self.actor = actor

    def start(self) -> None:
        """Begin uploading whatever is pending."""

    def wake(self) -> None:
        """A record was filed: look for pending work now rather than at the next tick."""

    def drain(self, timeout: float) -> bool:
        """Wait until nothing filed is waiting for the store (True) or the timeout passes."""
        return True

    def stop(self) -> None:
        """Finish the current step and stop; unfinished uploads resume from their journal."""
