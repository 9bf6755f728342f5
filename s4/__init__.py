"""S4 — Scan it, Scrap it, Store it."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("s4")
except PackageNotFoundError:  # running from a checkout without installing
    __version__ = "0.0.0+checkout"
