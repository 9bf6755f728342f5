"""``s4 init``: create an S4 home with documented defaults and the shipped configuration."""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from s4 import db as store_db
from s4.config import Home

DEFAULT_SETTINGS = """\
# S4 settings for this home. Every value shown is the default; edit what you need.
# Errors in this file are reported with the line and field, e.g. "s4.toml:12: ingest.poll".

[s4]
# Your council's name, printed on every disposal certificate. Required before the first
# `s4 paper destroy`, e.g. council = "Borsetshire District Council".
council = ""
# Pipeline (file in pipelines/) used when a command is given no --pipeline.
default_pipeline = "default"

[ingest]
# A file is taken only after its size and modification time have not changed for this long.
quiet_seconds = 5.0
# Poll the inbox instead of relying on file-system events. Needed on SMB/NFS network shares.
poll = false
poll_interval_seconds = 2.0
# Look at the whole inbox again this often, to catch anything the watcher missed.
rescan_seconds = 60.0
# Larger files are quarantined with an explanation.
max_file_megabytes = 500.0
# File names never taken from the inbox (scanner/desktop leftovers, files still copying).
ignore = [".*", "Thumbs.db", "desktop.ini", "~$*", "*.tmp", "*.part"]

[ocr]
# OCR worker processes; each runs one Tesseract page at a time. 0 = one per CPU core.
workers = 0
# A document whose OCR worker dies (or overruns the time below) this many times is
# quarantined with the reason, instead of being tried for ever.
max_attempts = 3
# How long one document's OCR may take before its worker is stopped (a guard against hangs).
job_timeout_minutes = 60.0
# Where OCR runs: "local" (this machine) or "celery" (`s4 worker` on one or more machines,
# through a Redis broker; see the README's "OCR on several machines").
executor = "local"
broker = "redis://127.0.0.1:6379/0"
# The NAME of the environment variable that holds the Redis password (never the password).
broker_password_env = "S4_REDIS_PASSWORD"
# A job whose worker sent no heartbeat for this long counts as a crashed attempt.
lease_seconds = 30.0
# Scans travel through Redis as bytes; larger files are quarantined with the reason.
broker_max_file_megabytes = 200.0

[web]
# The desk (`s4 serve`). A session unused this long ends; the person signs in again.
idle_minutes = 30
# A session this many hours old (since sign-in) ends however busy it is; sign in again.
session_max_hours = 12
# This many failed sign-ins in a row lock the account for lockout_minutes.
max_failed_sign_ins = 5
lockout_minutes = 15
# true when the desk is reached through https (a reverse proxy): cookies are then "Secure".
https = false

# Where filed records are stored. The default is the store/ folder in this home, laid out as
# {record_class}/{year}/, each record with a .json metadata sidecar. For SharePoint, remove
# the leading "# " from the [store] and [store.sharepoint] lines below and fill them in;
# the README section "For council IT: SharePoint set-up" explains the Entra app
# registration. Check with `s4 store check`.
# [store]
# backend = "sharepoint"             # "local" (the default) or "sharepoint"
# retry_max_seconds = 300.0          # while the store is down, retry at least this often
#
# [store.local]
# path = "/srv/records"              # default: store/ in this home
# folder = "{record_class}/{year}"   # also {month}, {batch}, {box}, {disposal_year}
#
# [store.sharepoint]
# tenant_id = "00000000-0000-0000-0000-000000000000"   # Directory (tenant) ID
# client_id = "00000000-0000-0000-0000-000000000000"   # Application (client) ID
# certificate = "/etc/s4/s4-app.pem" # PEM with private key + certificate, or a PFX
# certificate_password_env = "S4_CERT_PASSWORD"   # NAME of the variable holding its password
# site = "contoso.sharepoint.com:/sites/records"
# library = "Records"
# folder = "{record_class}/{year}"
# authority = "https://login.microsoftonline.com"  # differs in sovereign clouds
# graph_url = "https://graph.microsoft.com/v1.0"
# fragment_size = 10485760           # upload fragment: a multiple of 327680 (320 KiB)
# connect_timeout_seconds = 10.0
# read_timeout_seconds = 120.0
#
# [store.sharepoint.columns]         # S4 field -> library column ("" = do not set)
# record_class = "S4RecordClass"
# disposal_due = "S4DisposalDate"
# disposal_action = "S4DisposalAction"
# document_date = "S4DocumentDate"
# refs = "S4References"
# batch = "S4Batch"
# box = "S4Box"
# id = "S4Id"
# sha256 = "S4SHA256"

# `s4 audit anchor` has an RFC 3161 time-stamping authority (TSA) sign the audit log's head,
# so a rewrite of the log is found even if whoever made it also rewrote audit/head. Remove
# the leading "# " and fill in, then schedule `s4 audit anchor` (e.g. daily).
[audit]
# tsa_url = "https://tsa.example.org/tsr"   # receives application/timestamp-query
# tsa_certificate = "/etc/s4/tsa.pem"       # the TSA's certificate, then its CA chain (PEM)
# timeout_seconds = 30.0
"""


def shipped_folder(name: str) -> Path:
    """Shipped ``pipelines``/``retention_rules``: inside the wheel, or the checkout's own."""
    packaged = Path(str(resources.files("s4"))) / "_shipped" / name
    if packaged.is_dir():
        return packaged
    checkout = Path(__file__).resolve().parent.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(f"the S4 installation has no {name}/ folder (broken install?)")


def initialise(home: Home) -> list[str]:
    """Create what is missing. Never overwrites a file that exists. Returns what was created."""
    created: list[str] = []
    for folder in (home.root, home.inbox, home.work, home.quarantine, home.store,
                   home.pipelines, home.retention_rules, home.root / "logs"):
        if not folder.exists():
            folder.mkdir(parents=True)
            created.append(f"{folder}/")
    if not home.settings_file.exists():
        home.settings_file.write_text(DEFAULT_SETTINGS, encoding="utf-8")
        created.append(str(home.settings_file))
    for name, target in (("pipelines", home.pipelines), ("retention_rules", home.retention_rules)):
        for source in sorted(shipped_folder(name).glob("*.yaml")):
            destination = target / source.name
            if not destination.exists():
                shutil.copy2(source, destination)
                created.append(str(destination))
    fresh = not home.database.exists()
    database = store_db.connect(home.database)
    try:
        store_db.migrate(database)
        store_db.home_root_of(database, str(home.root.resolve()))  # the home it belongs to
        if fresh:
            with store_db.transaction(database):
                store_db.append_event(database, store_db.default_actor(), "home.initialised",
                                      "home", {"path": str(home.root)})
            created.append(str(home.database))
    finally:
        database.conn.close()
    return created
