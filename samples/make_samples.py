#!/usr/bin/env python3
"""Generate fictional, realistically degraded scans of council records, with ground truth.

Every document is invented: the council ("Borsetshire District Council"), people, addresses,
companies and reference numbers are fictional. Telephone numbers use the Ofcom drama range
(01632 960xxx), e-mail domains end in ``.example`` and National Insurance numbers use the
specimen ``QQ`` prefix.

The script is deterministic: the same ``--seed``, ``--count``, ``--dpi``, ``--templates`` and
``--fonts`` give byte-identical output on the same versions of Pillow, libjpeg, libtiff and
img2pdf. With ``--fonts portable`` (the default) only the six files of Debian's
``fonts-dejavu-core`` are used, so the result does not depend on what else is installed.

Output (in ``--out``): ``scan_0001.pdf``, ``scan_0002.tif``, ... (names reveal nothing about
the content), one ``scan_NNNN.gt.txt`` per document (the true text of each page, one printed
line per line, pages separated by a form feed) and ``manifest.json`` describing everything.

Usage::

    python samples/make_samples.py --out samples/scans --count 12 --seed 4
"""

from __future__ import annotations

import argparse
import datetime as dt
import fnmatch
import hashlib
import io
import json
import math
import random
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import img2pdf
from PIL import Image, ImageChops, ImageDraw, ImageFilter, ImageFont

GENERATOR_VERSION = 1
COUNCIL = "Borsetshire District Council"
COUNCIL_ADDRESS = ["Council Offices", "Market Square", "Felpersham", "Borsetshire", "BZ1 1DC"]
COUNCIL_ADDRESS_LINE = "Council Offices, Market Square, Felpersham, Borsetshire BZ1 1DC"
WEBSITE = "www.borsetshire.example"
A4_MM = (210.0, 297.0)

INK = (22, 22, 26)
RED = (190, 30, 36)
ACCENTS = [(20, 52, 112), (0, 92, 80), (92, 24, 74), (30, 30, 30)]

MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August",
          "September", "October", "November", "December"]
WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]

# ---------------------------------------------------------------------------------------------
# Fonts
# ---------------------------------------------------------------------------------------------

FONT_DIRS = [Path("/usr/share/fonts"), Path("/usr/local/share/fonts"), Path.home() / ".fonts"]
PORTABLE_FONTS: dict[tuple[str, bool], list[str]] = {
    ("sans", False): ["DejaVuSans.ttf"],
    ("sans", True): ["DejaVuSans-Bold.ttf"],
    ("serif", False): ["DejaVuSerif.ttf"],
    ("serif", True): ["DejaVuSerif-Bold.ttf"],
    ("mono", False): ["DejaVuSansMono.ttf"],
    ("mono", True): ["DejaVuSansMono-Bold.ttf"],
}
SYSTEM_FONTS: dict[tuple[str, bool], list[str]] = {
    ("sans", False): ["NimbusSans-Regular.otf", "LiberationSans-Regular.ttf"],
    ("sans", True): ["NimbusSans-Bold.otf", "LiberationSans-Bold.ttf"],
    ("serif", False): ["NimbusRoman-Regular.otf", "LiberationSerif-Regular.ttf"],
    ("serif", True): ["NimbusRoman-Bold.otf", "LiberationSerif-Bold.ttf"],
    ("mono", False): ["NimbusMonoPS-Regular.otf", "LiberationMono-Regular.ttf"],
    ("mono", True): ["NimbusMonoPS-Bold.otf", "LiberationMono-Bold.ttf"],
}
LAST_RESORT = ["DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf"]


class FontBook:
    """Finds font files once and hands out sized ``FreeTypeFont`` objects, with fallbacks."""

    def __init__(self, mode: str) -> None:
        self.files = self._index()
        self.mode = mode
        self._cache: dict[tuple[str, bool, int], ImageFont.FreeTypeFont | ImageFont.ImageFont] = {}
        self.used: set[str] = set()

    @staticmethod
    def _index() -> dict[str, Path]:
        found: dict[str, Path] = {}
        for root in FONT_DIRS:
            if root.is_dir():
                for path in sorted(root.rglob("*")):
                    if path.suffix.lower() in (".ttf", ".otf"):
                        found.setdefault(path.name, path)
        return found

    def _path(self, family: str, bold: bool) -> Path | None:
        names: list[str] = []
        if self.mode == "system":
            names += SYSTEM_FONTS.get((family, bold), [])
        names += PORTABLE_FONTS.get((family, bold), [])
        names += PORTABLE_FONTS.get((family, False), [])
        names += LAST_RESORT
        for name in names:
            if name in self.files:
                return self.files[name]
        dejavu = sorted(n for n in self.files if n.startswith("DejaVu"))
        return self.files[dejavu[0]] if dejavu else None

    def get(self, family: str, bold: bool, px: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
        """A font of ``family`` ('sans', 'serif' or 'mono') at ``px`` pixels."""
        key = (family, bold, px)
        if key not in self._cache:
            path = self._path(family, bold)
            if path is None:
                self.used.add("Pillow default font")
                self._cache[key] = ImageFont.load_default(size=px)
            else:
                self.used.add(path.name)
                self._cache[key] = ImageFont.truetype(str(path), px)
        return self._cache[key]


# ---------------------------------------------------------------------------------------------
# Page description (what is printed) -- independent of DPI and fonts
# ---------------------------------------------------------------------------------------------


@dataclass
class House:
    """The typographic house style of one document."""

    body: str = "sans"
    head: str = "sans"
    fill: str = "mono"
    body_pt: float = 11.0
    spacing: float = 1.35
    margin_mm: float = 22.0
    accent: tuple[int, int, int] = ACCENTS[0]


@dataclass
class Page:
    """An ordered list of layout operations making up one printed page."""

    house: House
    ops: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def _add(self, kind: str, **kw: Any) -> Page:
        self.ops.append((kind, kw))
        return self

    def text(self, text: str, *, size: float | None = None, family: str = "body",
             bold: bool = False, align: str = "left", indent: float = 0.0,
             colour: str | tuple[int, int, int] = "ink", after: float = 0.15) -> Page:
        """A line (wrapped if too long) of text. ``indent`` in mm, ``after`` in lines."""
        return self._add("text", text=text, size=size, family=family, bold=bold, align=align,
                         indent=indent, colour=colour, after=after)

    def para(self, text: str, *, indent: float = 0.0, family: str = "body",
             size: float | None = None, after: float = 0.6, bold: bool = False) -> Page:
        """A wrapped paragraph followed by paragraph spacing."""
        return self.text(text, indent=indent, family=family, size=size, after=after, bold=bold)

    def heading(self, text: str, *, size: float | None = None, align: str = "left",
                colour: str | tuple[int, int, int] = "ink", after: float = 0.5) -> Page:
        """A bold heading in the house heading face."""
        return self.text(text, size=size or self.house.body_pt + 3, family="head", bold=True,
                         align=align, colour=colour, after=after)

    def section(self, text: str) -> Page:
        """A bold section title inside a form or report."""
        return self.gap(0.3).text(text, family="head", bold=True, after=0.3)

    def field(self, label: str, value: str, *, boxed: bool = False, label_frac: float = 0.36,
              filled: bool = False, after: float = 0.2) -> Page:
        """``label`` then ``value`` in a second column; ``filled`` uses the fill-in face."""
        return self._add("field", label=label, value=value, boxed=boxed, label_frac=label_frac,
                         filled=filled, after=after)

    def table(self, columns: Sequence[tuple[str, float, str]], rows: Sequence[Sequence[str]],
              *, header: bool = True, bold_last: bool = False, filled: bool = False,
              after: float = 0.6) -> Page:
        """A ruled table: ``columns`` are (header, width fraction, 'l' or 'r')."""
        return self._add("table", columns=list(columns), rows=[list(r) for r in rows],
                         header=header, bold_last=bold_last, filled=filled, after=after)

    def rule(self, *, colour: str | tuple[int, int, int] = "ink", after: float = 0.4) -> Page:
        """A horizontal line across the text block."""
        return self._add("rule", colour=colour, after=after)

    def gap(self, lines: float = 1.0) -> Page:
        """Vertical white space, in body lines."""
        return self._add("gap", lines=lines)

    def signature(self, seed: int) -> Page:
        """A hand-drawn looking squiggle (graphics only, not text)."""
        return self._add("signature", seed=seed)

    def stamp(self, lines: Sequence[str]) -> Page:
        """A red, boxed rubber stamp at the right margin."""
        return self._add("stamp", lines=list(lines))

    def letterhead(self, dept: str, contact: str) -> Page:
        """The council logo, name, department, address and contact line."""
        return self._add("letterhead", dept=dept, contact=contact)

    def footer(self, text: str) -> Page:
        """A small centred line at the foot of the page."""
        return self._add("footer", text=text)


class LayoutError(RuntimeError):
    """Raised when a page's content does not fit on the paper."""


# ---------------------------------------------------------------------------------------------
# Fictional data
# ---------------------------------------------------------------------------------------------

MALE = ["Oliver", "Harry", "George", "Noah", "Jack", "Jacob", "Thomas", "Mohammed", "Daniel",
        "Samuel", "William", "James", "Joseph", "Arjun", "Connor", "David", "Peter", "Kevin",
        "Gareth", "Tomasz", "Kwame", "Rhys", "Callum", "Graham", "Neil", "Imran", "Stuart"]
FEMALE = ["Amelia", "Isla", "Ava", "Mia", "Grace", "Sophie", "Emily", "Aisha", "Chloe", "Hannah",
          "Lily", "Ruby", "Evie", "Priya", "Megan", "Susan", "Margaret", "Janet", "Siobhan",
          "Agnieszka", "Abena", "Eleanor", "Fiona", "Joanne", "Helen", "Nadia", "Rachel"]
SURNAMES = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies",
            "Patel", "Robinson", "Wright", "Thompson", "Evans", "Walker", "White", "Roberts",
            "Green", "Hall", "Clarke", "Jackson", "Wood", "Harris", "Edwards", "Turner", "Martin",
            "Cooper", "Hill", "Ward", "Hughes", "Khan", "Moore", "Baker", "Lewis", "Kowalski",
            "Okafor", "Begum", "Fletcher", "Pemberton", "Ashworth", "Greenwood", "Hargreaves",
            "Nowak", "Mensah", "Lloyd", "Gallagher", "Sutcliffe", "Whitfield", "Rahman"]
STREETS = ["Church Lane", "Station Road", "Mill Street", "The Green", "Orchard Close",
           "Victoria Road", "High Street", "Manor Way", "Willow Drive", "Kingsway",
           "Bridge Street", "Chapel Row", "Meadow View", "Park Avenue", "Brook Lane",
           "Hawthorn Crescent", "Queen Street", "Elm Grove", "Priory Walk", "Foxglove Road",
           "Sheepfold Lane", "Tanners Yard", "Castle Hill", "Wharf Road"]
# (town, postcode district)
TOWNS = [("Felpersham", "BZ2"), ("Borchester", "BZ4"), ("Hollerton", "BZ6"),
         ("Penny Hassett", "BZ7"), ("Loxley Barrett", "BZ8"), ("Edgeley", "BZ9"),
         ("Darrington", "BZ10"), ("Waterley Cross", "BZ11"), ("Little Wendle", "BZ12"),
         ("Ashcombe", "BZ13"), ("Marlbury", "BZ14")]
POSTCODE_LETTERS = "ABDEFGHJLNPQRSTUWXYZ"
BUSINESSES = [("The Copper Kettle Tearoom", "Cafe and premises"),
              ("Hollerton Hardware Ltd", "Shop and premises"),
              ("Greenwood and Daughters Solicitors", "Offices and premises"),
              ("Bridge Street Barbers", "Shop and premises"),
              ("Felpersham Print Works Ltd", "Workshop and premises"),
              ("Edgeley Garden Centre Ltd", "Garden centre and premises"),
              ("Riverside Veterinary Practice", "Surgery and premises"),
              ("Kingsway Motors Ltd", "Vehicle repair workshop and premises"),
              ("The Old Forge Bakery", "Shop and premises"),
              ("Marlbury Wool and Craft", "Shop and premises")]
SUPPLIERS = [("Wendle Valley Grounds Maintenance Ltd", "grounds maintenance"),
             ("Borsetshire Office Supplies Ltd", "office supplies"),
             ("Castleford IT Solutions Ltd", "IT support"),
             ("Meridian Waste Services Ltd", "waste collection"),
             ("Hargreaves Highways Ltd", "highway repairs"),
             ("Clearview Window Cleaning Ltd", "window cleaning"),
             ("Ashcombe Catering Services Ltd", "catering"),
             ("Brightwater Facilities Management Ltd", "facilities management"),
             ("Penfold Fleet Hire Ltd", "vehicle hire")]
ESTATES = ["Unit 4, Brookside Industrial Estate", "Unit 12, Felpersham Business Park",
           "Units 7-9, Canal Side Trading Estate", "Unit 2, Old Station Yard",
           "Unit 21, Hollerton Enterprise Park"]
SERVICES = ["Revenues and Benefits", "Planning and Building Control", "Waste and Recycling",
            "Environmental Health", "Housing Options", "Leisure and Culture", "Finance",
            "Customer Services", "Legal and Democratic Services", "Parks and Open Spaces"]


@dataclass
class Person:
    """A fictional person."""

    title: str
    first: str
    last: str

    @property
    def name(self) -> str:
        """First name and surname."""
        return f"{self.first} {self.last}"

    @property
    def full(self) -> str:
        """Title, first name and surname."""
        return f"{self.title} {self.first} {self.last}"

    @property
    def formal(self) -> str:
        """Title and surname, as in a salutation."""
        return f"{self.title} {self.last}"


def fmt_date(d: dt.date, style: str) -> str:
    """Format a date the British way, day first ('long', 'numeric', 'short' or 'weekday')."""
    if style == "numeric":
        return f"{d.day:02d}/{d.month:02d}/{d.year}"
    if style == "short":
        return f"{d.day} {MONTHS[d.month - 1][:3]} {d.year}"
    if style == "weekday":
        return f"{WEEKDAYS[d.weekday()]} {d.day} {MONTHS[d.month - 1]} {d.year}"
    return f"{d.day} {MONTHS[d.month - 1]} {d.year}"


def money(value: float) -> str:
    """Pounds sterling with thousands separators, e.g. '£1,234.50'."""
    return f"£{value:,.2f}"


def fin_year(d: dt.date) -> str:
    """The financial year (April to March) containing ``d``, e.g. '2021/22'."""
    start = d.year if d.month >= 4 else d.year - 1
    return f"{start}/{(start + 1) % 100:02d}"


class Doc:
    """Random fictional content for one document, and what the manifest records about it."""

    def __init__(self, rng: random.Random, house: House) -> None:
        self.rng = rng
        self.house = house
        self.date_style = rng.choice(["long", "long", "numeric", "short"])
        self.date: dt.date | None = self.random_date()
        self.references: list[str] = []
        self.people: list[str] = []
        self.title = ""
        self.sig_seed = 0

    def random_date(self, first: int = 2015, last: int = 2024) -> dt.date:
        """A random weekday between 1 January ``first`` and 31 December ``last``."""
        start = dt.date(first, 1, 1).toordinal()
        day = dt.date.fromordinal(self.rng.randint(start, dt.date(last, 12, 31).toordinal()))
        while day.weekday() >= 5:
            day -= dt.timedelta(days=1)
        return day

    @property
    def day(self) -> dt.date:
        """The document date (templates that use dates always have one)."""
        assert self.date is not None
        return self.date

    def d(self, date: dt.date, style: str | None = None) -> str:
        """Format ``date`` in this document's date style (or ``style``)."""
        return fmt_date(date, style or self.date_style)

    def later(self, lo: int, hi: int) -> dt.date:
        """A weekday ``lo`` to ``hi`` days after the document date."""
        day = self.day + dt.timedelta(days=self.rng.randint(lo, hi))
        while day.weekday() >= 5:
            day += dt.timedelta(days=1)
        return day

    def ref(self, value: str) -> str:
        """Record ``value`` as one of the document's references and return it."""
        if value not in self.references:
            self.references.append(value)
        return value

    def person(self, title: str | None = None, record: bool = True) -> Person:
        """A random fictional person (recorded in the manifest unless ``record`` is false)."""
        if self.rng.random() < 0.5:
            first, t = self.rng.choice(MALE), "Mr"
        else:
            first, t = self.rng.choice(FEMALE), self.rng.choice(["Mrs", "Ms", "Miss", "Ms"])
        if self.rng.random() < 0.06:
            t = "Dr"
        p = Person(title or t, first, self.rng.choice(SURNAMES))
        if record and p.name not in self.people:
            self.people.append(p.name)
        return p

    def postcode(self, district: str) -> str:
        """A fictional postcode in ``district``."""
        letters = "".join(self.rng.choice(POSTCODE_LETTERS) for _ in range(2))
        return f"{district} {self.rng.randint(1, 9)}{letters}"

    def address(self, with_county: bool = True) -> list[str]:
        """A fictional street address as printed lines."""
        town, district = self.rng.choice(TOWNS)
        lines = [f"{self.rng.randint(1, 140)} {self.rng.choice(STREETS)}", town]
        if with_county:
            lines.append("Borsetshire")
        lines.append(self.postcode(district))
        return lines

    def phone(self) -> str:
        """A telephone number from Ofcom's drama range."""
        return f"01632 960{self.rng.randint(0, 999):03d}"

    def ni_number(self) -> str:
        """A specimen-style National Insurance number."""
        digits = " ".join(f"{self.rng.randint(0, 99):02d}" for _ in range(3))
        return f"QQ {digits} {self.rng.choice('ABCD')}"

    def amount(self, lo: float, hi: float) -> float:
        """A random amount of money, rounded to pence."""
        return round(self.rng.uniform(lo, hi), 2)

    def page(self) -> Page:
        """A new blank page in this document's house style."""
        return Page(self.house)

    def sig(self) -> int:
        """A seed for a signature squiggle."""
        self.sig_seed += 1
        return self.rng.randint(0, 2**31) + self.sig_seed

    def email(self, person: Person) -> str:
        """A fictional personal e-mail address."""
        return f"{person.first.lower()}.{person.last.lower()}@mail.example"


# ---------------------------------------------------------------------------------------------
# Shared page furniture
# ---------------------------------------------------------------------------------------------


TEAM_EMAILS = {"Human Resources": "hr", "Children's Services": "childrens.services",
               "Business Rates": "business.rates", "Housing Benefit": "benefits",
               "Information Governance": "foi", "Customer Relations": "complaints",
               "Adoption Service": "adoption", "Democratic Services": "democratic.services",
               "Revenues and Benefits": "revenues", "Finance - Procurement": "procurement",
               "Planning and Building Control": "planning", "Planning Enforcement": "planning"}


def council_contact(doc: Doc, team: str) -> str:
    """A contact line for a council team."""
    slug = TEAM_EMAILS.get(team, team.lower().split()[0])
    return f"Telephone {doc.phone()}   Email {slug}@borsetshire.example   {WEBSITE}"


def letter_opening(p: Page, doc: Doc, dept: str, recipient: Sequence[str],
                   refs: Sequence[tuple[str, str]], private: bool = False) -> None:
    """Letterhead, reference block, date and recipient address."""
    p.letterhead(dept, council_contact(doc, dept))
    for label, value in refs:
        p.field(label, value, label_frac=0.22, after=0.05)
    p.field("Date", doc.d(doc.day), label_frac=0.22, after=0.8)
    if private:
        p.text("PRIVATE AND CONFIDENTIAL", bold=True, after=0.3)
    for line in recipient:
        p.text(line, after=0.05)
    p.gap(1.0)


def letter_closing(p: Page, doc: Doc, signer: Person, job: str, *,
                   faithfully: bool = False, team: str | None = None) -> None:
    """'Yours sincerely', signature, name and job title."""
    p.gap(0.3).text("Yours faithfully," if faithfully else "Yours sincerely,", after=0.2)
    p.signature(doc.sig())
    p.text(signer.name, after=0.05).text(job, after=0.05)
    if team:
        p.text(team, after=0.2)


def form_top(p: Page, doc: Doc, dept: str, title: str, received: dt.date | None) -> None:
    """The header of a council form completed by a member of the public."""
    p.text(COUNCIL, family="head", bold=True, size=doc.house.body_pt + 2, colour="accent",
           after=0.05)
    p.text(dept, colour="accent", after=0.3)
    if received is not None:
        p.stamp([COUNCIL.upper(), "RECEIVED", fmt_date(received, "short").upper()])
    p.heading(title, after=0.3)


def declaration(p: Page, doc: Doc, text: str, signer: Person, date: dt.date) -> None:
    """A declaration paragraph, signature and date."""
    p.section("Declaration")
    p.para(text)
    p.signature(doc.sig())
    p.field("Signed", signer.name.upper(), filled=True, label_frac=0.2, after=0.05)
    p.field("Date", fmt_date(date, "numeric"), filled=True, label_frac=0.2, after=0.4)


def number_pages(pages: list[Page], text: Callable[[int, int], str]) -> list[Page]:
    """Add a footer to every page of a multi-page document."""
    if len(pages) > 1:
        for n, page in enumerate(pages, 1):
            page.footer(text(n, len(pages)))
    return pages


def upper(value: str) -> str:
    """Block capitals, as people are asked to write on forms."""
    return value.upper()


# ---------------------------------------------------------------------------------------------
# Templates: each takes a Doc and returns the printed pages
# ---------------------------------------------------------------------------------------------


def council_tax_bill(doc: Doc) -> list[Page]:
    """A council tax demand notice sent to a householder."""
    rng = doc.rng
    doc.date = dt.date(doc.random_date().year, 3, rng.randint(1, 14))
    account = doc.ref(rng.choice(["CT-", ""]) + f"{rng.randint(10_000_000, 99_999_999)}")
    payer = doc.person()
    addr = doc.address()
    year = fin_year(doc.day + dt.timedelta(days=60))
    band = rng.choice("AABBBCCCDDEEFG")
    ratio = {"A": 6, "B": 7, "C": 8, "D": 9, "E": 11, "F": 13, "G": 15, "H": 18}[band] / 9
    band_d = 1480 * 1.035 ** (doc.day.year - 2015)
    town = addr[1]
    parts = [("Borsetshire County Council", 0.72), ("Borsetshire District Council", 0.11),
             ("Police and Crime Commissioner", 0.12), ("Borsetshire Fire and Rescue", 0.04),
             (f"{town} Parish Council", 0.01 + rng.random() * 0.02)]
    single = rng.random() < 0.4
    rows, total = [], 0.0
    for name, share in parts:
        d_charge = round(band_d * share, 2)
        charge = round(d_charge * ratio, 2)
        total += charge
        rows.append([name, money(d_charge), money(charge)])
    if single:
        rows.append(["Less single person discount 25%", "", "-" + money(total * 0.25)])
        total *= 0.75
    rows.append(["Amount payable", "", money(total)])
    rest = math.floor(total / 10)
    first = total - 9 * rest
    doc.title = f"Council Tax bill {year}"
    p = doc.page()
    letter_opening(p, doc, "Revenues and Benefits", [payer.full, *addr],
                   [("Account number", account)])
    p.heading(f"Council Tax Bill {year}")
    p.field("Property", ", ".join(addr[:2] + addr[-1:]), label_frac=0.3)
    p.field("Valuation band", band, label_frac=0.3)
    p.field("Liable person", payer.name, label_frac=0.3, after=0.5)
    p.table([("Charge", 0.56, "l"), ("Band D", 0.2, "r"), (f"Band {band}", 0.24, "r")], rows,
            bold_last=True)
    p.para(f"Your first instalment of {money(first)} is due on 1 April, followed by nine "
           f"monthly instalments of {money(rest)} due on the 1st of each month from May to "
           "January. If you already pay by Direct Debit your payments will be collected "
           "automatically and you do not need to do anything.")
    p.para("If you are on a low income you may be able to get Council Tax Reduction. You must "
           "tell us within 21 days if anyone moves into or out of the property, as this may "
           "change the amount you have to pay. If you think your property is in the wrong "
           "band you can appeal to the Valuation Office Agency, but you must continue to pay "
           "while the appeal is considered.")
    return [p]


def council_tax_discount_form(doc: Doc) -> list[Page]:
    """A single person discount application completed by a resident."""
    rng = doc.rng
    resident, left = doc.person(), doc.person()
    left.last = resident.last if rng.random() < 0.5 else left.last
    addr = doc.address()
    account = doc.ref(f"CT-{rng.randint(10_000_000, 99_999_999)}")
    moved = doc.day - dt.timedelta(days=rng.randint(5, 60))
    doc.title = "Council Tax single person discount application"
    p = doc.page()
    form_top(p, doc, "Council Tax", "Application for Single Person Discount",
             doc.later(2, 9))
    p.para("Please complete this form in BLOCK CAPITALS and return it to Revenues and "
           "Benefits at the Council Offices. You can only get this discount if you are the only "
           "adult aged 18 or over who lives at the property as their main home.")
    p.section("1. Your details")
    for label, value in [("Title", resident.title), ("Surname", resident.last),
                         ("Forename(s)", resident.first), ("Account number", account),
                         ("Property address", ", ".join(addr[:2])), ("Postcode", addr[-1]),
                         ("Telephone", doc.phone())]:
        p.field(label, upper(value), boxed=True, filled=True, after=0.25)
    p.section("2. About the other adult")
    p.field("Name of person who left", upper(left.name), boxed=True, filled=True)
    p.field("Date they left", fmt_date(moved, "numeric"), boxed=True, filled=True)
    new_addr = doc.address(with_county=False)
    p.field("Forwarding address", upper(f"{new_addr[0]}, {new_addr[1]}"), boxed=True,
            filled=True, after=0.4)
    declaration(p, doc, "I declare that the information I have given on this form is correct "
                "and complete. I understand that giving false information to obtain a "
                "discount is an offence and that the discount may be withdrawn and backdated. "
                "I will tell the council within 21 days of any change in who lives here.",
                resident, doc.day)
    return [p]


def business_rates_demand(doc: Doc) -> list[Page]:
    """A non-domestic rates demand notice sent to a business."""
    rng = doc.rng
    doc.date = dt.date(doc.random_date().year, 3, rng.randint(1, 14))
    business, desc = rng.choice(BUSINESSES)
    account = doc.ref(f"BR-{rng.randint(40_000_000, 49_999_999)}")
    prop_ref = doc.ref(f"{rng.randint(1000, 9999)}{rng.randint(10_000_000, 99_999_999)}")
    contact = doc.person()
    addr = doc.address()
    year = fin_year(doc.day + dt.timedelta(days=60))
    rv = rng.randrange(6000, 48000, 250)
    multiplier = rng.choice([0.491, 0.499, 0.504, 0.512])
    gross = rv * multiplier
    relief = 0.0
    if rv <= 12000:
        relief = gross
    elif rv < 15000:
        relief = gross * (15000 - rv) / 3000
    payable = gross - relief
    doc.title = f"Business rates demand notice {year}"
    p = doc.page()
    letter_opening(p, doc, "Business Rates", [business, f"FAO {contact.full}", *addr],
                   [("Account number", account), ("Property reference", prop_ref)])
    p.heading(f"Non-Domestic Rates Demand Notice {year}")
    p.field("Property", f"{desc}, {addr[0]}, {addr[1]}", label_frac=0.3)
    p.field("Rateable value", money(rv).removesuffix(".00"), label_frac=0.3)
    p.field("Multiplier", f"{multiplier:.3f}", label_frac=0.3, after=0.5)
    rows = [["Gross charge (rateable value x multiplier)", money(gross)],
            ["Small business rate relief", "-" + money(relief)],
            ["Amount payable", money(payable)]]
    p.table([("Calculation", 0.7, "l"), ("Amount", 0.3, "r")], rows, bold_last=True)
    if payable > 0:
        p.para(f"The amount payable of {money(payable)} is due in ten monthly instalments "
               f"of {money(payable / 10)} starting on 1 April. Please quote your account "
               "number when making a payment.")
    else:
        p.para("No payment is due for this year because small business rate relief reduces "
               "your charge to nil. You must tell us if you occupy another property, as this "
               "may affect your entitlement to relief.")
    p.para("The rateable value of your property is set by the Valuation Office Agency, which "
           "is independent of the council. If you think the rateable value is wrong you "
           "should contact the Valuation Office Agency; you must continue to pay the amount "
           "shown on this notice until any appeal is settled.")
    p.para("Business rates collected by the council are shared with central government and "
           "Borsetshire County Council and help to pay for local services. Information about "
           "how the money is spent is available on our website.")
    return [p]


def business_rates_relief_form(doc: Doc) -> list[Page]:
    """A small business rate relief application completed by a ratepayer."""
    rng = doc.rng
    business, desc = rng.choice(BUSINESSES)
    owner = doc.person()
    addr = doc.address()
    account = doc.ref(f"BR-{rng.randint(40_000_000, 49_999_999)}")
    occupied = doc.day - dt.timedelta(days=rng.randint(20, 400))
    doc.title = "Small business rate relief application"
    p = doc.page()
    form_top(p, doc, "Business Rates", "Small Business Rate Relief - Application Form",
             doc.later(1, 8))
    p.para("Use this form to apply for small business rate relief. Relief is available to "
           "ratepayers who occupy one property in England with a rateable value below "
           "£15,000. Please write clearly in BLOCK CAPITALS.")
    p.section("Part A - The business")
    for label, value in [("Ratepayer name", business), ("Business rates account", account),
                         ("Property address", ", ".join(addr[:2])), ("Postcode", addr[-1]),
                         ("Description", desc), ("Date occupied", fmt_date(occupied, "numeric"))]:
        p.field(label, upper(value), boxed=True, filled=True, after=0.25)
    p.section("Part B - Other properties")
    p.field("Other properties occupied", rng.choice(["NONE", "NONE", "ONE, RV UNDER £2,900"]),
            boxed=True, filled=True)
    p.section("Part C - Contact")
    p.field("Name", upper(owner.name), boxed=True, filled=True)
    p.field("Position", rng.choice(["OWNER", "DIRECTOR", "PARTNER"]), boxed=True, filled=True)
    p.field("Telephone", doc.phone(), boxed=True, filled=True, after=0.3)
    declaration(p, doc, "I declare that the information given on this form is true and "
                "complete. I will tell the council within four weeks if the business takes "
                "up occupation of another property or if any other change occurs which may "
                "affect the relief.", owner, doc.day)
    return [p]


def housing_benefit_award(doc: Doc) -> list[Page]:
    """A housing benefit decision letter, sometimes with a calculation page."""
    rng = doc.rng
    claimant = doc.person()
    addr = doc.address()
    claim = doc.ref(f"HB/{rng.randint(100_000, 999_999)}")
    officer = doc.person()
    start = doc.day - dt.timedelta(days=rng.randint(7, 40))
    rent = round(rng.uniform(85, 190), 2)
    services = round(rng.uniform(0, 12), 2)
    nondep = rng.choice([0.0, 0.0, 17.85, 40.90])
    income = round(rng.uniform(95, 260), 2)
    applicable = round(rng.uniform(80, 200), 2)
    excess = max(0.0, income - applicable)
    eligible = rent - services
    weekly = max(0.0, round(eligible - nondep - 0.65 * excess, 2))
    doc.title = "Housing Benefit decision"
    pages = [doc.page()]
    p = pages[0]
    letter_opening(p, doc, "Housing Benefit", [claimant.full, *addr],
                   [("Claim reference", claim), ("Enquiries", doc.phone())])
    p.text(f"Dear {claimant.formal},", after=0.5)
    p.text("Your Housing Benefit", bold=True, after=0.4)
    p.para(f"We have now worked out your claim for Housing Benefit for {addr[0]}, {addr[1]}. "
           f"From {doc.d(start)} you are entitled to {money(weekly)} a week. This is "
           f"based on an eligible rent of {money(eligible)} a week.")
    p.para(rng.choice([
        "We will pay your benefit directly to your landlord every four weeks in arrears. The "
        "first payment will include any arrears of benefit due to you.",
        "We will pay your benefit into your bank account every two weeks in arrears. The first "
        "payment should reach your account within ten working days."]))
    p.para("You must tell us straight away about any change in your circumstances, for "
           "example if your income, your rent or the people living with you change. If you "
           "do not tell us you may be overpaid and have to pay the money back.")
    if rng.random() < 0.5 or doc.house.body_pt >= 11.0:
        letter_closing(p, doc, officer, "Benefits Assessor")
        q = doc.page()
        pages.append(q)
        q.text(f"{COUNCIL} - Housing Benefit", bold=True, colour="accent", after=0.1)
        q.text(f"Claim reference {claim}", after=0.8)
        q.heading("How we worked out your Housing Benefit")
    else:
        q = p
    q.table([("Weekly amounts", 0.7, "l"), ("£", 0.3, "r")], [
        ["Rent", f"{rent:.2f}"], ["Less ineligible service charges", f"{services:.2f}"],
        ["Non-dependant deductions", f"{nondep:.2f}"], ["Your income", f"{income:.2f}"],
        ["Your applicable amount", f"{applicable:.2f}"],
        ["Excess income taken into account (65%)", f"{0.65 * excess:.2f}"],
        ["Weekly Housing Benefit", f"{weekly:.2f}"]], bold_last=True)
    q.para("If you disagree with this decision you can ask us to look at it again. You must "
           "write to us within one calendar month of the date of this letter and tell us why "
           "you think the decision is wrong. You can also ask for a written statement of the "
           "reasons for the decision.")
    if q is p:
        letter_closing(p, doc, officer, "Benefits Assessor")
    else:
        q.para("If you are still unhappy after we have looked at the decision again, you can "
               "appeal to an independent tribunal. We will send you information about how to "
               "do this with our reconsideration decision. Please keep this letter safe as "
               "you may need it to apply for other help, such as free school meals.")
    return number_pages(pages, lambda n, t: f"Page {n} of {t}")


def housing_benefit_change_form(doc: Doc) -> list[Page]:
    """A change of circumstances form completed by a claimant."""
    rng = doc.rng
    claimant = doc.person()
    addr = doc.address()
    claim = doc.ref(f"HB/{rng.randint(100_000, 999_999)}")
    changed = doc.day - dt.timedelta(days=rng.randint(3, 30))
    employer = rng.choice(BUSINESSES)[0]
    hours = rng.choice([12, 16, 20, 24, 30])
    pay = round(hours * rng.uniform(9.5, 12.5), 2)
    change = rng.choice([
        (f"I STARTED A NEW JOB AT {employer.upper()} WORKING {hours} HOURS A WEEK. I GET PAID "
         f"EVERY WEEK ON A FRIDAY. MY FIRST PAYSLIP IS ATTACHED."),
        (f"MY PARTNER HAS MOVED OUT OF THE PROPERTY. I NOW LIVE ALONE WITH MY TWO CHILDREN. "
         f"I ALSO STARTED PART TIME WORK AT {employer.upper()}, {hours} HOURS A WEEK."),
        (f"MY RENT WENT UP FROM THE START OF THE MONTH AND MY HOURS AT {employer.upper()} "
         f"CHANGED TO {hours} A WEEK. LETTER FROM MY LANDLORD ENCLOSED.")])
    doc.title = "Housing Benefit change of circumstances"
    p = doc.page()
    form_top(p, doc, "Housing Benefit and Council Tax Reduction",
             "Change of Circumstances", doc.later(1, 7))
    p.para("Use this form to tell us about a change that may affect your Housing Benefit or "
           "Council Tax Reduction. Please fill in every section and send us proof of the "
           "change, such as payslips or a letter from your landlord.")
    p.section("Section 1 - About you")
    ni = doc.ref(doc.ni_number())
    for label, value in [("Full name", claimant.name), ("Claim reference", claim),
                         ("National Insurance no", ni),
                         ("Address", ", ".join(addr[:2])), ("Postcode", addr[-1])]:
        p.field(label, upper(value), boxed=True, filled=True, after=0.25)
    p.section("Section 2 - The change")
    p.field("Date of change", fmt_date(changed, "numeric"), boxed=True, filled=True)
    p.field("New weekly earnings", money(pay), boxed=True, filled=True)
    p.text("Please describe the change:", after=0.2)
    p.para(change, family="fill", indent=4)
    declaration(p, doc, "I declare that the information I have given is correct and complete. "
                "I understand that if I knowingly give false information I may be prosecuted "
                "and any benefit overpaid will be recovered.", claimant, doc.day)
    return [p]


PLANNING_PROPOSALS = [
    ("HOU", "Single storey rear extension and loft conversion with rear dormer window"),
    ("HOU", "Two storey side extension and detached garage"),
    ("FUL", "Erection of two detached dwellings with associated parking and access"),
    ("FUL", "Change of use of ground floor from retail (Class E) to hot food takeaway"),
    ("LBC", "Replacement of timber sash windows and internal alterations"),
    ("OUT", "Outline application for up to nine dwellings with all matters reserved"),
    ("ADV", "Display of one internally illuminated fascia sign"),
]


def planning_ref(doc: Doc, kind: str) -> str:
    """A planning application number such as '21/01234/FUL'."""
    return f"{doc.day.year % 100:02d}/{doc.rng.randint(100, 2999):05d}/{kind}"


def planning_decision(doc: Doc) -> list[Page]:
    """A decision notice granting or refusing planning permission."""
    rng = doc.rng
    kind, proposal = rng.choice(PLANNING_PROPOSALS)
    app = doc.ref(planning_ref(doc, kind))
    applicant = doc.person()
    site = doc.address()
    officer = doc.person()
    grant = rng.random() < 0.7
    valid = doc.day - dt.timedelta(days=rng.randint(40, 80))
    drawings = ", ".join(f"{rng.randint(100, 999)}-{rng.randint(1, 20):02d}" for _ in range(3))
    doc.title = "Planning decision notice"
    p = doc.page()
    p.letterhead("Planning and Building Control", council_contact(doc, "Planning"))
    p.heading("Town and Country Planning Act 1990", align="center", after=0.1)
    p.heading("Notice of Decision: " + ("Grant of Permission" if grant else "Refusal"),
              align="center", after=0.6)
    p.field("Application number", app, label_frac=0.3)
    p.field("Applicant", applicant.full, label_frac=0.3)
    p.field("Site address", ", ".join(site[:2]), label_frac=0.3)
    p.field("Proposal", proposal, label_frac=0.3)
    p.field("Date valid", doc.d(valid), label_frac=0.3)
    p.field("Date of decision", doc.d(doc.day), label_frac=0.3, after=0.6)
    if grant:
        p.para(f"{COUNCIL}, as the local planning authority, hereby GRANTS permission for the "
               "development described above in accordance with the application and plans "
               "submitted, subject to the following conditions:")
        conditions = [
            "The development hereby permitted shall be begun before the expiration of three "
            "years from the date of this permission. Reason: To comply with Section 91 of the "
            "Town and Country Planning Act 1990.",
            f"The development shall be carried out in accordance with drawings {drawings}. "
            "Reason: For the avoidance of doubt and in the interests of proper planning.",
            "The materials used in the external surfaces shall match those of the existing "
            "building. Reason: In the interests of visual amenity."]
    else:
        p.para(f"{COUNCIL}, as the local planning authority, hereby REFUSES permission for the "
               "development described above for the following reasons:")
        conditions = [
            "By reason of its scale, bulk and siting the proposal would appear overbearing and "
            "would result in an unacceptable loss of light and outlook to neighbouring homes.",
            "The proposal fails to provide adequate off-street parking and would lead to "
            "additional parking on the highway, to the detriment of highway safety."]
    for n, text in enumerate(conditions, 1):
        p.para(f"{n}. {text}", indent=5, after=0.4)
    pages = [p]
    q = p
    if rng.random() < 0.5:
        q = doc.page()
        pages.append(q)
        q.text(f"Application number {app}", bold=True, after=0.8)
    q.section("Notes to the applicant")
    q.para("If you are aggrieved by the decision of the local planning authority you may "
           "appeal to the Secretary of State under Section 78 of the Town and Country Planning "
           "Act 1990 within six months of the date of this notice. This permission does not "
           "give consent under the Building Regulations, which may also be required.")
    if q is not p:
        q.para("Please note that the conditions above must be complied with. Failure to do so "
               "may lead to enforcement action being taken by the council. If you wish to vary "
               "or remove a condition you will need to make a further application.")
    q.signature(doc.sig())
    q.text(officer.name, after=0.05).text("Head of Planning", after=0.05)
    return number_pages(pages, lambda n, t: f"{app}   Page {n} of {t}")


def planning_objection(doc: Doc) -> list[Page]:
    """A letter from a neighbour objecting to a planning application."""
    rng = doc.rng
    kind, proposal = rng.choice(PLANNING_PROPOSALS[:4])
    app = doc.ref(planning_ref(doc, kind))
    writer = doc.person()
    home = doc.address()
    site_no = int(home[0].split()[0]) + rng.choice([1, 2, -1, -2, 3])
    site = f"{max(site_no, 1)} {' '.join(home[0].split()[1:])}, {home[1]}"
    house = doc.house
    house.body = "mono" if rng.random() < 0.5 else "serif"
    doc.title = "Objection to a planning application"
    p = doc.page()
    for line in [writer.name, *home]:
        p.text(line, align="right", after=0.05)
    p.gap(0.6).text(doc.d(doc.day, "long"), align="right", after=1.0)
    for line in ["Planning Department", COUNCIL, *COUNCIL_ADDRESS[:3], COUNCIL_ADDRESS[-1]]:
        p.text(line, after=0.05)
    p.gap(1.0).text("Dear Sir or Madam,", after=0.5)
    p.text(f"Re: Planning application {app}, {site}", bold=True, after=0.5)
    p.para(f"I am writing to object to the above application for \"{proposal.lower()}\". I "
           f"have lived at {home[0]} for {rng.randint(3, 30)} years and my home directly "
           "adjoins the application site.")
    objections = [
        "The proposal would overlook my rear garden and the windows of my kitchen and main "
        "bedroom, causing a serious loss of privacy.",
        "The new building would block the afternoon sun from my garden and greatly reduce the "
        "light reaching my living room.",
        "Parking in the street is already very difficult and this development would make the "
        "situation worse, particularly for elderly residents and delivery vehicles.",
        "The design is out of keeping with the character of the surrounding houses and would "
        "harm the appearance of the conservation area.",
        "There is a mature oak tree close to the boundary which could be damaged during "
        "construction."]
    rng.shuffle(objections)
    for n, text in enumerate(objections[:3], 1):
        p.para(f"{n}. {text}", indent=5, after=0.4)
    p.para("I would ask that the planning committee visits the site before making a decision, "
           "and I would like to be told the date of the meeting so that I can speak at it.")
    p.gap(0.3).text("Yours faithfully,", after=0.2).signature(doc.sig())
    p.text(writer.full, after=0.05)
    return [p]


ENFORCEMENT_BREACHES = [
    ("the erection of a timber outbuilding exceeding 2.5 metres in height within two metres of "
     "the boundary", "Demolish the outbuilding and remove all resulting materials from the land"),
    ("the material change of use of the land to use for the storage of vehicles and "
     "scrap metal", "Cease the use of the land for storage and remove all vehicles and scrap"),
    ("the erection of a close boarded fence over two metres in height adjoining the highway",
     "Reduce the height of the fence to no more than one metre or remove it entirely"),
    ("the installation of uPVC windows to the front elevation of a building in a conservation "
     "area", "Remove the uPVC windows and replace them with painted timber sash windows"),
]


def enforcement_notice(doc: Doc) -> list[Page]:
    """A formal planning enforcement notice (two pages)."""
    rng = doc.rng
    case = doc.ref(f"ENF/{doc.day.year % 100:02d}/{rng.randint(1, 250):04d}")
    owner = doc.person()
    land = doc.address()
    officer = doc.person()
    breach, step = rng.choice(ENFORCEMENT_BREACHES)
    effect = doc.day + dt.timedelta(days=rng.choice([28, 35, 42]))
    months = rng.choice(["one month", "two months", "three months", "six months"])
    doc.title = "Planning enforcement notice"
    p = doc.page()
    p.letterhead("Planning Enforcement", council_contact(doc, "Planning"))
    p.heading("IMPORTANT - THIS COMMUNICATION AFFECTS YOUR PROPERTY", align="center", after=0.3)
    p.text("Town and Country Planning Act 1990 (as amended)", align="center", after=0.1)
    p.heading("ENFORCEMENT NOTICE", align="center", size=doc.house.body_pt + 5, after=0.6)
    p.field("Reference", case, label_frac=0.25)
    p.field("Served on", f"{owner.full}, {land[0]}, {land[1]}", label_frac=0.25, after=0.5)
    p.para("1. THIS IS A FORMAL NOTICE which is issued by the Council because it appears to "
           "them that there has been a breach of planning control, under Section 171A(1)(a) of "
           "the above Act, at the land described below. The Council consider that it is "
           "expedient to issue this notice, having regard to the provisions of the development "
           "plan and to other material planning considerations.")
    p.para(f"2. THE LAND TO WHICH THE NOTICE RELATES: Land at {land[0]}, {land[1]}, "
           f"Borsetshire {land[-1]}, shown edged red on the attached plan.")
    p.para(f"3. THE MATTERS WHICH APPEAR TO CONSTITUTE THE BREACH OF PLANNING CONTROL: Without "
           f"planning permission, {breach}.")
    q = doc.page()
    q.para("4. REASONS FOR ISSUING THIS NOTICE: It appears to the Council that the above "
           "breach of planning control has occurred within the last ten years. The "
           "development is harmful to the character and appearance of the area and to the "
           "living conditions of neighbouring occupiers, and conditions could not overcome "
           "these objections.")
    q.para(f"5. WHAT YOU ARE REQUIRED TO DO: {step}.")
    q.para(f"6. TIME FOR COMPLIANCE: {months[0].upper()}{months[1:]} after this notice takes "
           "effect.")
    q.para(f"7. WHEN THIS NOTICE TAKES EFFECT: This notice takes effect on {doc.d(effect)}, "
           "unless an appeal is made against it beforehand. If you do not comply with this "
           "notice you may be prosecuted and, on conviction, fined an unlimited amount.")
    q.field("Dated", doc.d(doc.day), label_frac=0.2, after=0.3)
    q.signature(doc.sig())
    q.text(officer.name, after=0.05).text("Planning Enforcement Manager, on behalf of "
                                          f"{COUNCIL}", after=0.05)
    return number_pages([p, q], lambda n, t: f"{case}   Page {n} of {t}")


def enforcement_site_report(doc: Doc) -> list[Page]:
    """An enforcement officer's site visit report."""
    rng = doc.rng
    case = doc.ref(f"ENF/{doc.day.year % 100:02d}/{rng.randint(1, 250):04d}")
    site = doc.address()
    officer = doc.person()
    breach, step = rng.choice(ENFORCEMENT_BREACHES)
    received = doc.day - dt.timedelta(days=rng.randint(5, 30))
    confirmed = rng.random() < 0.7
    doc.title = "Planning enforcement site visit report"
    p = doc.page()
    form_top(p, doc, "Planning Enforcement", "Site Visit Report", None)
    p.field("Case reference", case, boxed=True)
    p.field("Complaint received", doc.d(received, "numeric"), boxed=True)
    p.field("Complainant", "Details withheld (confidential)", boxed=True)
    p.field("Site address", f"{site[0]}, {site[1]} {site[-1]}", boxed=True)
    p.field("Date of visit", doc.d(doc.day, "numeric"), boxed=True)
    p.field("Officer", officer.name, boxed=True, after=0.4)
    p.section("Alleged breach")
    p.para(f"The complaint alleges {breach}. A search of the planning register found no "
           "planning permission or certificate of lawfulness for this development.")
    p.section("Observations")
    p.para(rng.choice([
        "On arrival I spoke to the owner, who allowed access to the rear of the property. "
        "Photographs were taken from the garden and from the public footpath. Measurements "
        "were taken with a laser measure.",
        "No one was at home at the time of the visit. The site was viewed from the highway and "
        "photographs were taken. A calling card was left asking the owner to contact me."]))
    p.para(("The development was seen and the breach is confirmed. It does not benefit from "
            "permitted development rights.") if confirmed else
           ("The works seen on site appear to fall within permitted development and no breach "
            "of planning control has been established."))
    p.section("Recommendation")
    p.para(("Write to the owner inviting a retrospective planning application within 28 days; "
            f"if none is received, consider a notice requiring them to: {step.lower()}.")
           if confirmed else "Close the case and write to the complainant to explain why.")
    p.field("Priority", rng.choice(["Low", "Medium", "High"]), label_frac=0.25)
    p.signature(doc.sig())
    p.field("Signed", officer.name, label_frac=0.25)
    return [p]


JOBS = [("Revenues Officer", "Revenues and Benefits", 5), ("Planning Officer", "Planning", 7),
        ("Waste Services Operative", "Waste and Recycling", 2),
        ("Environmental Health Officer", "Environmental Health", 8),
        ("Customer Services Adviser", "Customer Services", 4),
        ("Housing Options Officer", "Housing Options", 6), ("Parks Supervisor", "Parks", 5),
        ("Accountancy Assistant", "Finance", 4), ("Social Worker", "Children's Services", 9)]


def employee_number(doc: Doc) -> str:
    """An employee number such as 'EMP004512'."""
    return doc.ref(f"EMP{doc.rng.randint(1000, 9999):06d}")


def salary_for(grade: int, rng: random.Random, year: int) -> int:
    """An annual salary for a pay grade in a given year."""
    base = 17500 + grade * 2700 + rng.randrange(0, 2400, 10)
    return int(base * 1.025 ** (year - 2015))


def hr_offer_letter(doc: Doc) -> list[Page]:
    """A conditional offer of employment, sometimes with an acceptance slip page."""
    rng = doc.rng
    job, service, grade = rng.choice(JOBS)
    cand = doc.person()
    addr = doc.address()
    emp = employee_number(doc)
    adviser = doc.person()
    salary = salary_for(grade, rng, doc.day.year)
    start = doc.later(21, 60)
    while start.weekday() != 0:
        start += dt.timedelta(days=1)
    doc.title = "Offer of employment"
    p = doc.page()
    letter_opening(p, doc, "Human Resources", [cand.full, *addr],
                   [("Employee number", emp)], private=True)
    p.text(f"Dear {cand.formal},", after=0.5)
    p.text(f"Offer of employment - {job}", bold=True, after=0.4)
    p.para(f"I am pleased to offer you the post of {job} in {service}. This offer is subject "
           "to the receipt of two satisfactory references, evidence of your right to work in "
           "the United Kingdom and, where the post requires it, a satisfactory check by the "
           "Disclosure and Barring Service.")
    p.para(f"The post is on Grade {grade} with a starting salary of {money(salary)} a year, "
           "paid monthly on the 25th. The hours are 37 a week and your place of work will be "
           "the Council Offices, Felpersham. You will be eligible to join the Local Government "
           "Pension Scheme.")
    p.para(f"Your start date will be {doc.d(start, 'weekday')}. You will serve a probationary "
           "period of six months. Your annual leave entitlement is 26 days plus bank holidays, "
           "rising to 31 days after five years of continuous local government service.")
    pages = [p]
    if rng.random() < 0.5:
        p.para("Please confirm your acceptance by signing and returning the enclosed "
               "acceptance form within ten working days.")
        letter_closing(p, doc, adviser, "HR Adviser", team="Human Resources")
        q = doc.page()
        pages.append(q)
        q.heading("Acceptance of Offer", after=0.5)
        q.field("Post", job, label_frac=0.3)
        q.field("Service", service, label_frac=0.3)
        q.field("Employee number", emp, label_frac=0.3, after=0.5)
        q.para(f"I accept the offer of employment as {job} on the terms set out in the letter "
               f"dated {doc.d(doc.day)}. I understand that the offer is conditional on "
               "satisfactory pre-employment checks and that I must bring original documents "
               "proving my right to work to my first day of employment.")
        q.para("I confirm that I have declared any unspent criminal convictions and that the "
               "information I gave in my application is true and complete. I understand that "
               "giving false information may lead to the offer being withdrawn or to "
               "dismissal.")
        q.signature(doc.sig())
        q.field("Signed", upper(cand.name), filled=True, label_frac=0.3)
        q.field("Date", fmt_date(doc.later(3, 10), "numeric"), filled=True, label_frac=0.3)
        q.field("Bank holiday preference", "NONE", filled=True, label_frac=0.3)
        q.gap(1).text("Please return this form to Human Resources, "
                      f"{COUNCIL_ADDRESS_LINE}.", after=0.2)
    else:
        p.para("Please confirm by reply whether you accept this offer. We look forward to "
               "welcoming you to the council.")
        letter_closing(p, doc, adviser, "HR Adviser", team="Human Resources")
    return number_pages(pages, lambda n, t: f"Page {n} of {t}")


def hr_return_to_work(doc: Doc) -> list[Page]:
    """A return to work interview record after sickness absence."""
    rng = doc.rng
    job, service, _grade = rng.choice(JOBS)
    emp_p = doc.person()
    emp = employee_number(doc)
    manager = doc.person()
    first = doc.day - dt.timedelta(days=rng.randint(3, 25))
    days = sum(1 for n in range((doc.day - first).days)
               if (first + dt.timedelta(days=n)).weekday() < 5)
    reason = rng.choice(["Back pain", "Gastric illness", "Chest infection", "Migraine",
                         "Influenza", "Stress", "Surgery (planned)"])
    doc.title = "Return to work interview record"
    p = doc.page()
    form_top(p, doc, "Human Resources", "Return to Work Interview Record", None)
    p.para("To be completed by the line manager with the employee on their first day back at "
           "work after any period of sickness absence. Send the completed form to Human "
           "Resources within five working days.")
    for label, value in [("Employee name", emp_p.name), ("Employee number", emp),
                         ("Job title", job), ("Service", service),
                         ("Line manager", manager.name),
                         ("First day of absence", fmt_date(first, "numeric")),
                         ("Date returned", fmt_date(doc.day, "numeric")),
                         ("Working days lost", str(days)), ("Reason given", reason),
                         ("Evidence", "Fit note" if days > 5 else "Self-certification")]:
        p.field(label, value, boxed=True, filled=True, after=0.25)
    p.section("Discussion")
    p.para(rng.choice([
        "Employee feels well enough to return to full duties. No underlying condition. "
        "Reminded of the absence reporting procedure.",
        "Employee is still recovering and has asked for a phased return over two weeks. "
        "Agreed to refer to Occupational Health for advice on adjustments.",
        "Absence linked to workload. Agreed to review priorities weekly and to signpost to the "
        "Employee Assistance Programme."]), family="fill")
    p.field("Trigger point reached", rng.choice(["No", "Yes - stage 1 review"]), filled=True)
    p.signature(doc.sig())
    p.field("Manager", manager.name, filled=True, label_frac=0.25, after=0.05)
    p.field("Employee", emp_p.name, filled=True, label_frac=0.25)
    return [p]


def tax_code(year: int) -> str:
    """The emergency/basic tax code in force in a given tax year."""
    codes = {2015: "1060L", 2016: "1100L", 2017: "1150L", 2018: "1185L"}
    return codes.get(year, "1250L" if year < 2021 else "1257L")


def payslip(doc: Doc) -> list[Page]:
    """A monthly payslip."""
    rng = doc.rng
    job, service, grade = rng.choice(JOBS)
    emp_p = doc.person()
    emp = employee_number(doc)
    ni = doc.ref(doc.ni_number())
    d0 = doc.random_date()
    pay_date = dt.date(d0.year, d0.month, 25)
    while pay_date.weekday() >= 5:
        pay_date -= dt.timedelta(days=1)
    doc.date = pay_date
    period = (pay_date.month - 4) % 12 + 1
    tax_year = pay_date.year if pay_date.month >= 4 else pay_date.year - 1
    run = doc.ref(f"PAY-{pay_date.year}-M{period:02d}")
    salary = salary_for(grade, rng, pay_date.year)
    basic = round(salary / 12, 2)
    hourly = salary / 52.143 / 37
    ot_hours = rng.choice([0, 0, 4, 6.5, 9, 12])
    overtime = round(ot_hours * hourly * 1.5, 2)
    gross = basic + overtime
    pension_rate = 0.055 if salary < 23000 else 0.058 if salary < 37000 else 0.065
    pension = round(gross * pension_rate, 2)
    code = tax_code(tax_year)
    allowance = int(code[:-1]) * 10 / 12
    tax = round(max(0.0, gross - pension - allowance) * 0.2, 0)
    ni_threshold = {2015: 672, 2016: 672, 2017: 680, 2018: 702, 2019: 719, 2020: 792,
                    2021: 797}.get(tax_year, 1048)
    ni_amount = round(max(0.0, gross - ni_threshold) * (0.08 if tax_year >= 2024 else 0.12), 2)
    union = rng.choice([0.0, 0.0, 14.2, 16.75])
    deductions = tax + ni_amount + pension + union
    doc.title = f"Payslip month {period} {fin_year(pay_date)}"
    p = doc.page()
    p.text(COUNCIL, family="head", bold=True, size=doc.house.body_pt + 4, colour="accent",
           after=0.1)
    p.text("Payslip - Private and Confidential", bold=True, after=0.6)
    for label, value in [("Employee", emp_p.full), ("Employee number", emp),
                         ("NI number", ni), ("Job title", job), ("Service", service),
                         ("Tax code", code), ("Pay date", doc.d(pay_date, "numeric")),
                         ("Tax period", f"Month {period}"), ("Payroll run", run),
                         ("Payment method", "BACS")]:
        p.field(label, value, label_frac=0.3, after=0.05)
    p.gap(0.6)
    rows = [["Basic pay", "", money(basic)]]
    if overtime:
        rows.append(["Overtime at time and a half", f"{ot_hours:g} hrs", money(overtime)])
    rows.append(["Gross pay", "", money(gross)])
    p.table([("Payments", 0.55, "l"), ("Units", 0.2, "r"), ("Amount", 0.25, "r")], rows,
            bold_last=True)
    drows = [["Income tax", money(tax)], ["National Insurance", money(ni_amount)],
             [f"Pension (LGPS {pension_rate * 100:.1f}%)", money(pension)]]
    if union:
        drows.append(["Union subscription (UNISON)", money(union)])
    drows.append(["Total deductions", money(deductions)])
    p.table([("Deductions", 0.75, "l"), ("Amount", 0.25, "r")], drows, bold_last=True)
    p.text(f"Net pay {money(gross - deductions)}", bold=True, size=doc.house.body_pt + 2,
           align="right", after=0.6)
    p.table([("Year to date", 0.4, "l"), ("Taxable pay", 0.2, "r"), ("Tax", 0.2, "r"),
             ("NI", 0.2, "r")],
            [["Totals", money((gross - pension) * period), money(tax * period),
              money(ni_amount * period)]])
    p.para(rng.choice([
        "Please check your payslip carefully and tell Payroll straight away if anything is "
        "wrong. Overtime claims must reach Payroll by the 10th of the month to be paid in "
        "that month.",
        "The annual pay award has been applied and backdated to 1 April. If you have "
        "questions about your pay, contact the Payroll team on extension 4410.",
        "Your P60 for last year will be issued with your May payslip. Keep it safe, as you "
        "may need it to claim tax refunds or apply for a mortgage."]))
    return [p]


def overtime_claim(doc: Doc) -> list[Page]:
    """An overtime claim form with a table of hours, completed by an employee."""
    rng = doc.rng
    job, service, _grade = rng.choice(JOBS)
    emp_p = doc.person()
    emp = employee_number(doc)
    manager = doc.person()
    month_end = doc.day
    n_rows = rng.randint(4, 7)
    days = sorted(rng.sample(range(1, 28), n_rows))
    rows, total = [], 0.0
    for day in days:
        when = dt.date(month_end.year, month_end.month, day)
        start = rng.choice([6, 7, 16, 17, 18])
        hours = rng.choice([1.5, 2, 2.5, 3, 4])
        rate = "x2" if when.weekday() == 6 else "x1.5"
        reason = rng.choice(["Cover for absence", "Event support", "Backlog", "Emergency call out",
                             "Election count", "Storm clean up"])
        rows.append([fmt_date(when, "numeric"), f"{start:02d}:00",
                     f"{start + int(hours):02d}:{'30' if hours % 1 else '00'}", f"{hours:g}",
                     rate, reason])
        total += hours
    run = doc.ref(f"PAY-{month_end.year}-M{(month_end.month - 3) % 12 + 1:02d}")
    doc.title = "Overtime claim"
    p = doc.page()
    form_top(p, doc, "Payroll", "Overtime and Additional Hours Claim", doc.later(1, 5))
    p.para("Claims must be authorised by your manager and reach Payroll by the 10th of the "
           "month. Enter each occasion on a separate line. Sunday and bank holiday work is "
           "paid at double time; all other overtime at time and a half.")
    for label, value in [("Name", emp_p.name), ("Employee number", emp), ("Job title", job),
                         ("Service", service),
                         ("Cost centre", f"C{rng.randint(1000, 4999)}"),
                         ("Month claimed", f"{MONTHS[month_end.month - 1]} {month_end.year}")]:
        p.field(label, upper(value), boxed=True, filled=True, after=0.25)
    p.gap(0.4)
    p.table([("Date", 0.2, "l"), ("Start", 0.11, "l"), ("Finish", 0.12, "l"),
             ("Hours", 0.11, "r"), ("Rate", 0.1, "r"), ("Reason", 0.36, "l")],
            [*rows, ["Total", "", "", f"{total:g}", "", ""]], filled=True, bold_last=True)
    declaration(p, doc, "I certify that I worked the hours shown above, that they have not "
                "been claimed before and that I have not been paid for them in any other way.",
                emp_p, doc.day)
    p.text("Authorised by manager", bold=True, after=0.1).signature(doc.sig())
    p.field("Name", manager.name, filled=True, label_frac=0.2, after=0.05)
    p.field("Payroll use", f"Processed in {run}", label_frac=0.2)
    return [p]


INVOICE_ITEMS = {
    "grounds maintenance": [("Grass cutting, parks and verges", 180, 640),
                            ("Hedge cutting and removal of arisings", 220, 900),
                            ("Shrub bed maintenance", 120, 400)],
    "office supplies": [("A4 copier paper, box of 5 reams", 18, 32), ("Toner cartridge", 45, 120),
                        ("Lever arch files, pack of 10", 12, 25)],
    "IT support": [("Monthly managed service charge", 1800, 4200),
                   ("Laptop, 14 inch, configured", 520, 890),
                   ("On-site engineer, per day", 380, 650)],
    "waste collection": [("Trade waste collection, 1100 litre bin", 14, 28),
                         ("Clinical waste collection", 45, 95), ("Bulky waste removal", 90, 260)],
    "highway repairs": [("Pothole repair, per square metre", 45, 95),
                        ("Traffic management, per day", 350, 800),
                        ("Drainage gully clearance", 60, 140)],
    "window cleaning": [("Window cleaning, council offices", 240, 480),
                        ("Window cleaning, leisure centre", 160, 320),
                        ("High level access equipment", 90, 180)],
    "catering": [("Working lunch, per head", 6, 11), ("Tea and coffee, per head", 2, 4),
                 ("Civic reception buffet", 350, 900)],
    "facilities management": [("Planned maintenance visit", 250, 700),
                              ("Reactive repair, plumbing", 90, 420),
                              ("Fire alarm service", 180, 450)],
    "vehicle hire": [("Refuse vehicle hire, per week", 1100, 1900),
                     ("Panel van hire, per week", 210, 380), ("Delivery and collection", 60, 150)],
}


def po_number(doc: Doc) -> str:
    """A purchase order number such as 'PO-12345'."""
    return doc.ref(f"PO-{doc.rng.randint(10_000, 99_999)}")


def invoice_lines(doc: Doc, kind: str) -> tuple[list[list[str]], float]:
    """Random invoice lines for a supplier of ``kind``, and their net total."""
    rows, net = [], 0.0
    for desc, lo, hi in doc.rng.sample(INVOICE_ITEMS[kind], doc.rng.randint(2, 3)):
        qty = doc.rng.randint(1, 12)
        unit = doc.amount(lo, hi)
        rows.append([desc, str(qty), f"{unit:,.2f}", f"{qty * unit:,.2f}"])
        net += qty * unit
    return rows, round(net, 2)


def supplier_invoice(doc: Doc) -> list[Page]:
    """An invoice sent to the council by a supplier, stamped on receipt."""
    rng = doc.rng
    supplier, kind = rng.choice(SUPPLIERS)
    doc.house.accent = rng.choice(ACCENTS)
    inv = doc.ref(f"{rng.choice(['INV-', 'SI', 'INV'])}{rng.randint(1000, 99999)}")
    po = po_number(doc)
    town, district = rng.choice(TOWNS)
    rows, net = invoice_lines(doc, kind)
    vat = round(net * 0.2, 2)
    doc.title = f"Invoice from {supplier}"
    p = doc.page()
    p.text(supplier, family="head", bold=True, size=doc.house.body_pt + 7, colour="accent",
           after=0.1)
    p.text(f"{rng.choice(ESTATES)}, {town}, Borsetshire {doc.postcode(district)}", after=0.05)
    p.text(f"Telephone {doc.phone()}   VAT registration GB {rng.randint(100, 999)} "
           f"{rng.randint(1000, 9999)} {rng.randint(10, 99)}", after=0.4)
    p.rule(colour="accent")
    p.stamp(["ACCOUNTS PAYABLE", "RECEIVED", fmt_date(doc.later(2, 6), "short").upper()])
    p.heading("INVOICE", size=doc.house.body_pt + 8, after=0.4)
    p.field("Invoice number", inv, label_frac=0.3, after=0.05)
    p.field("Invoice date", doc.d(doc.day), label_frac=0.3, after=0.05)
    p.field("Your order number", po, label_frac=0.3, after=0.05)
    p.field("Payment due", doc.d(doc.day + dt.timedelta(days=30)), label_frac=0.3, after=0.5)
    p.text("Invoice to:", bold=True, after=0.1)
    for line in ["Accounts Payable", COUNCIL, COUNCIL_ADDRESS_LINE]:
        p.text(line, after=0.05)
    p.gap(0.8)
    p.table([("Description", 0.58, "l"), ("Qty", 0.08, "r"), ("Unit £", 0.16, "r"),
             ("Net £", 0.18, "r")],
            [*rows, ["Net total", "", "", f"{net:,.2f}"], ["VAT at 20%", "", "", f"{vat:,.2f}"],
             ["Total due", "", "", f"{net + vat:,.2f}"]], bold_last=True)
    p.para("Payment terms are strictly 30 days from the date of invoice. Please pay by BACS to "
           "the account shown on your supplier record and quote the invoice number as the "
           "payment reference. Any queries about this invoice must be raised within 14 days.")
    p.para("Thank you for your business.")
    return [p]


def purchase_order(doc: Doc) -> list[Page]:
    """An official council purchase order."""
    rng = doc.rng
    supplier, kind = rng.choice(SUPPLIERS)
    po = po_number(doc)
    sup_no = doc.ref(f"SUP-{rng.randint(100, 9999):04d}")
    requester = doc.person()
    approver = doc.person()
    rows, net = invoice_lines(doc, kind)
    vat = round(net * 0.2, 2)
    doc.title = "Purchase order"
    p = doc.page()
    p.letterhead("Finance - Procurement", council_contact(doc, "Procurement"))
    p.heading("OFFICIAL PURCHASE ORDER", align="center", after=0.5)
    for label, value in [("Order number", po), ("Order date", doc.d(doc.day)),
                         ("Supplier", supplier), ("Supplier number", sup_no),
                         ("Deliver to", rng.choice(["Council Offices, Felpersham",
                                                    "Borchester Depot, Wharf Road",
                                                    "Hollerton Leisure Centre"])),
                         ("Requested by", f"{requester.name}, {rng.choice(SERVICES)}"),
                         ("Cost centre", f"C{rng.randint(1000, 4999)}/{rng.randint(1000, 9999)}")]:
        p.field(label, value, label_frac=0.28, after=0.05)
    p.gap(0.6)
    p.table([("Description", 0.58, "l"), ("Qty", 0.08, "r"), ("Unit £", 0.16, "r"),
             ("Total £", 0.18, "r")],
            [*rows, ["Net", "", "", f"{net:,.2f}"], ["VAT", "", "", f"{vat:,.2f}"],
             ["Order total", "", "", f"{net + vat:,.2f}"]], bold_last=True)
    p.para(f"This order is placed subject to the council's standard terms and conditions of "
           f"purchase. Invoices must quote the order number {po} or they will be returned "
           "unpaid. Please send invoices to accounts.payable@borsetshire.example and not to "
           "the person who placed the order.")
    p.para("Goods must be delivered between 9am and 4pm, Monday to Friday, unless otherwise "
           "agreed. Do not supply goods or services beyond the quantity or value shown on this "
           "order without a further written order.")
    p.signature(doc.sig())
    p.field("Authorised by", f"{approver.name}, Budget Holder", label_frac=0.28)
    return [p]


CONTRACT_SERVICES = ["grounds maintenance", "IT support", "waste collection",
                     "facilities management", "window cleaning", "vehicle hire"]


def services_agreement(doc: Doc) -> list[Page]:
    """A formal services agreement between the council and a contractor (2-3 pages)."""
    rng = doc.rng
    kind = rng.choice(CONTRACT_SERVICES)
    supplier = next(s for s, k in SUPPLIERS if k == kind)
    con = doc.ref(f"CON-{doc.day.year}-{rng.randint(1, 120):03d}")
    tender = doc.ref(f"TEN-{doc.day.year}-{rng.randint(1, 60):03d}")
    company_no = f"{rng.randint(1_000_000, 13_999_999):08d}"
    town, district = rng.choice(TOWNS)
    years = rng.choice([2, 3, 4, 5])
    price = rng.randrange(24_000, 480_000, 500)
    start = doc.later(10, 60)
    signer_c, signer_s = doc.person(), doc.person()
    three = rng.random() < 0.5
    doc.title = f"Contract for {kind}"
    p = doc.page()
    p.heading(f"AGREEMENT FOR THE PROVISION OF {kind.upper()} SERVICES", align="center",
              after=0.3)
    p.text(f"Contract reference: {con}", align="center", after=0.8)
    p.para(f"THIS AGREEMENT is dated {doc.d(doc.day, 'long')}")
    p.text("PARTIES", bold=True, after=0.3)
    p.para(f"(1) BORSETSHIRE DISTRICT COUNCIL of {COUNCIL_ADDRESS_LINE} (\"the Council\").",
           indent=5, after=0.3)
    p.para(f"(2) {supplier.upper()} incorporated and registered in England and Wales with "
           f"company number {company_no} whose registered office is at {rng.choice(ESTATES)}, "
           f"{town} {doc.postcode(district)} (\"the Contractor\").", indent=5)
    p.text("BACKGROUND", bold=True, after=0.3)
    p.para(f"(A) The Council wishes to procure {kind} services for its offices, depots and "
           "public spaces across the district.", indent=5, after=0.3)
    p.para(f"(B) Following a competitive tender exercise under reference {tender}, the Council "
           "has selected the Contractor to provide the services on the terms of this "
           "agreement.", indent=5)
    p.text("1. DEFINITIONS AND INTERPRETATION", bold=True, after=0.3)
    p.para("1.1 In this agreement \"Services\" means the services described in the "
           "Specification at Schedule 1, and \"Contract Year\" means each period of twelve "
           "months starting on the Commencement Date.", indent=5)
    q = doc.page()
    q.text("2. TERM", bold=True, after=0.3)
    q.para(f"2.1 This agreement starts on {doc.d(start, 'long')} (\"the Commencement Date\") "
           f"and continues for {years} years unless terminated earlier. The Council may extend "
           "the term by up to twelve months by giving written notice.", indent=5)
    q.text("3. THE SERVICES", bold=True, after=0.3)
    q.para("3.1 The Contractor shall provide the Services with reasonable skill and care, in "
           "accordance with good industry practice and all applicable law, and shall meet the "
           "performance standards set out in Schedule 2.", indent=5)
    q.text("4. PRICE AND PAYMENT", bold=True, after=0.3)
    q.para(f"4.1 The Council shall pay the Contractor {money(price).removesuffix('.00')} a "
           "year, exclusive of VAT, in twelve equal monthly instalments. Valid invoices shall "
           "be paid within 30 days of receipt and must quote the contract reference.", indent=5)
    q.text("5. DATA PROTECTION", bold=True, after=0.3)
    q.para("5.1 Where the Contractor processes personal data on behalf of the Council it shall "
           "do so only on the Council's documented instructions and in accordance with the "
           "UK GDPR and the Data Protection Act 2018.", indent=5)
    pages = [p, q]
    r = q
    if three:
        r = doc.page()
        pages.append(r)
        r.text("6. TERMINATION", bold=True, after=0.3)
        r.para("6.1 Either party may terminate this agreement by giving six months' written "
               "notice. The Council may terminate immediately if the Contractor commits a "
               "material breach which is not remedied within 30 days of notice.", indent=5)
        r.text("7. GOVERNING LAW", bold=True, after=0.3)
        r.para("7.1 This agreement is governed by the law of England and Wales and the parties "
               "submit to the exclusive jurisdiction of the courts of England and Wales.",
               indent=5)
    r.gap(0.5).text("Signed for and on behalf of Borsetshire District Council", bold=True,
                    after=0.2)
    r.signature(doc.sig())
    r.text(f"{signer_c.name}, Director of Resources", after=0.6)
    r.text("Signed for and on behalf of the Contractor", bold=True, after=0.2)
    r.signature(doc.sig())
    r.text(f"{signer_s.name}, Director", after=0.2)
    return number_pages(pages, lambda n, t: f"{con}   Page {n} of {t}")


def contract_variation(doc: Doc) -> list[Page]:
    """A letter to a contractor varying or extending an existing contract."""
    rng = doc.rng
    kind = rng.choice(CONTRACT_SERVICES)
    supplier = next(s for s, k in SUPPLIERS if k == kind)
    con = doc.ref(f"CON-{doc.day.year - rng.randint(1, 4)}-{rng.randint(1, 120):03d}")
    number = rng.randint(1, 4)
    contact, manager = doc.person(), doc.person()
    town, district = rng.choice(TOWNS)
    new_end = dt.date(doc.day.year + rng.randint(1, 2), 3, 31)
    uplift = rng.choice([2.5, 3.0, 3.8, 4.2, 5.0])
    doc.title = "Contract variation notice"
    p = doc.page()
    letter_opening(p, doc, "Procurement", [contact.full, supplier, rng.choice(ESTATES),
                                          f"{town}, Borsetshire", doc.postcode(district)],
                   [("Contract", con), ("Variation", f"No. {number}")])
    p.text(f"Dear {contact.formal},", after=0.5)
    p.text(f"Contract {con} - {kind} services - Variation No. {number}", bold=True, after=0.4)
    p.para(f"I am writing to confirm the variation to the above contract agreed at our contract "
           f"review meeting on {doc.d(doc.day - dt.timedelta(days=rng.randint(7, 30)))}.")
    p.para(f"The council has decided to exercise its option to extend the contract. The "
           f"contract will now end on {doc.d(new_end)}. The contract price will increase by "
           f"{uplift}% from 1 April, in line with the price review clause.")
    p.para("In addition, the services will include the council's new depot at Wharf Road, "
           "Borchester, from the start of the next contract year. All other terms and "
           "conditions of the contract remain unchanged.")
    p.para("Please sign and return the enclosed copy of this letter to confirm your agreement. "
           "The variation will not take effect until we have received your signed copy.")
    letter_closing(p, doc, manager, "Contract Manager", team="Procurement")
    return [p]


FOI_TOPICS = [
    ("potholes", ["How many pothole repairs did the council carry out in each of the last "
                  "three financial years?",
                  "How much did the council pay in compensation for vehicle damage caused by "
                  "potholes in the same period?"]),
    ("agency staff", ["How much has the council spent on agency staff in each of the last "
                      "two financial years?",
                      "Which agencies were used and how many agency workers were engaged on "
                      "31 March each year?"]),
    ("empty homes", ["How many residential properties in the district have been empty for "
                     "more than six months?",
                     "How many empty homes premiums are currently being charged?"]),
    ("cyber security", ["Has the council suffered a ransomware attack in the last five years?",
                        "Which software does the council use for email filtering and "
                        "endpoint protection?"]),
]


def foi_reference(doc: Doc) -> str:
    """A freedom of information request reference such as 'FOI-2021-0345'."""
    return doc.ref(f"FOI-{doc.day.year}-{doc.rng.randint(1, 1400):04d}")


def foi_request(doc: Doc) -> list[Page]:
    """A printed e-mail from a member of the public making an FOI request."""
    rng = doc.rng
    requester = doc.person()
    topic, questions = rng.choice(FOI_TOPICS)
    ref = foi_reference(doc)
    hour, minute = rng.randint(7, 22), rng.randint(0, 59)
    doc.house.body = rng.choice(["sans", "serif"])
    doc.title = f"FOI request about {topic}"
    p = doc.page()
    p.stamp(["RECEIVED", fmt_date(doc.day, "short").upper(), ref])
    for label, value in [("From", f"{requester.name} <{doc.email(requester)}>"),
                         ("Sent", f"{doc.d(doc.day, 'weekday')} {hour:02d}:{minute:02d}"),
                         ("To", "FOI <foi@borsetshire.example>"),
                         ("Subject", f"Freedom of Information request - {topic}")]:
        p.field(label + ":", value, label_frac=0.14, after=0.05)
    p.rule(after=0.8)
    p.text("Dear Borsetshire District Council,", after=0.5)
    p.para("Under the Freedom of Information Act 2000, I would like to request the following "
           "information:")
    for n, q in enumerate(questions, 1):
        p.para(f"{n}. {q}", indent=6, after=0.3)
    p.para("If it is not possible to provide the information in full within the cost limit, "
           "please provide as much as you can and advise me how I could narrow my request. I "
           "would prefer to receive the information electronically, as a spreadsheet if "
           "possible.")
    p.para("Please acknowledge receipt of this request. I look forward to your response within "
           "the statutory time limit of twenty working days.")
    p.text("Yours faithfully,", after=0.2).text(requester.name, after=0.6)
    p.rule(after=0.2)
    p.text("Please use this email address for all replies to this request.", size=9)
    return [p]


def foi_response(doc: Doc) -> list[Page]:
    """The council's response to an FOI request, sometimes running to two pages."""
    rng = doc.rng
    requester = doc.person()
    topic, questions = rng.choice(FOI_TOPICS)
    ref = foi_reference(doc)
    officer = doc.person()
    received = doc.day - dt.timedelta(days=rng.randint(10, 27))
    answers = [
        f"In {fin_year(doc.day - dt.timedelta(days=800))} the figure was "
        f"{rng.randint(200, 4000):,}, in {fin_year(doc.day - dt.timedelta(days=430))} it was "
        f"{rng.randint(200, 4000):,} and in {fin_year(doc.day - dt.timedelta(days=60))} it was "
        f"{rng.randint(200, 4000):,}.",
        rng.choice([
            f"The total was {money(rng.uniform(2000, 90000))}. We have withheld the names of "
            "individuals under section 40(2) of the Act because disclosure would breach the "
            "data protection principles.",
            "We hold this information but consider it exempt under section 31(1)(a) of the "
            "Act, as disclosure would be likely to prejudice the prevention of crime. The "
            "public interest in maintaining the exemption outweighs that in disclosure."])]
    doc.title = f"FOI response about {topic}"
    p = doc.page()
    letter_opening(p, doc, "Information Governance", [requester.full,
                                                     f"By email: {doc.email(requester)}"],
                   [("Our reference", ref)])
    p.text(f"Dear {requester.formal},", after=0.5)
    p.text(f"Freedom of Information Act 2000 - Request {ref}", bold=True, after=0.4)
    p.para(f"Thank you for your request for information about {topic}, which we received on "
           f"{doc.d(received)}. I can confirm that the council holds the information you "
           "asked for. Our response to each part of your request is set out below.")
    pages = [p]
    q = p
    for n, (question, answer) in enumerate(zip(questions, answers, strict=True), 1):
        if n == 2 and rng.random() < 0.5:
            q = doc.page()
            pages.append(q)
            q.text(f"Our reference {ref}", bold=True, after=0.8)
        q.para(f"Question {n}: {question}", bold=True, after=0.3)
        q.para(f"Response: {answer}")
    q.para("If you are unhappy with the way your request has been handled you can ask for an "
           "internal review by writing to the Information Governance team within 40 working "
           "days of the date of this letter. If you remain dissatisfied after the review you "
           "can complain to the Information Commissioner's Office.")
    if q is not p:
        q.para("Information released under the Act may be published in our disclosure log. "
               "Your name and contact details will not be published.")
    letter_closing(q, doc, officer, "Information Governance Officer")
    return number_pages(pages, lambda n, t: f"Page {n} of {t}")


PRIMARY_SCHOOLS = ["St Mary's CE Primary School", "Loxley Barrett Primary School",
                   "Ashcombe Infant and Nursery School", "Hollerton Primary Academy"]
SECONDARY_SCHOOLS = ["Felpersham Academy", "Borchester Grammar School",
                     "Edgeley Community College"]


def school_for(doc: Doc, dob: dt.date) -> str:
    """A fictional school suitable for a child born on ``dob``."""
    age = (doc.day - dob).days // 365
    return doc.rng.choice(PRIMARY_SCHOOLS if age < 11 else SECONDARY_SCHOOLS)
LEGAL_STATUS = ["Section 20 accommodation (Children Act 1989)", "Interim Care Order (s.38)",
                "Care Order (s.31)", "Placement Order (s.21 ACA 2002)"]


def child(doc: Doc, youngest: int = 5, oldest: int = 16) -> tuple[Person, dt.date]:
    """A fictional child aged ``youngest`` to ``oldest``, and their date of birth."""
    c = doc.person(title="")
    dob = doc.day - dt.timedelta(days=doc.rng.randint(youngest * 365 + 30, oldest * 365))
    return c, dob


def lac_reference(doc: Doc) -> str:
    """A looked-after child case reference such as 'LAC-004518'."""
    return doc.ref(f"LAC-{doc.rng.randint(1000, 99999):06d}")


def lac_review(doc: Doc) -> list[Page]:
    """A record of a looked-after child statutory review meeting (two pages)."""
    rng = doc.rng
    c, dob = child(doc)
    lac = lac_reference(doc)
    iro, sw = doc.person(), doc.person()
    carers = doc.person()
    age = (doc.day - dob).days // 365
    school = school_for(doc, dob)
    review_no = rng.choice(["First", "Second", "Third", "Fourth"])
    next_review = doc.day + dt.timedelta(days=rng.choice([91, 182]))
    doc.title = "Looked after child review record"
    p = doc.page()
    p.text("OFFICIAL-SENSITIVE", bold=True, align="center", colour="red", after=0.3)
    form_top(p, doc, "Children's Services", "Looked After Child Review - Record of Meeting",
             None)
    for label, value in [("Child's name", c.name), ("Date of birth", doc.d(dob, "numeric")),
                         ("Case reference", lac), ("Legal status", rng.choice(LEGAL_STATUS)),
                         ("Placement", f"Foster care with {carers.full}"),
                         ("Date of review", doc.d(doc.day)), ("Review", f"{review_no} review"),
                         ("Reviewing officer", iro.name), ("Social worker", sw.name)]:
        p.field(label, value, boxed=True, after=0.25)
    p.section("1. The child's views")
    p.para(f"{c.first} met the reviewing officer before the meeting and said that they are "
           "happy living with their carers and would like to stay. " + rng.choice([
               f"{c.first} would like to see their brother more often.",
               f"{c.first} asked whether they could join the football club at school.",
               f"{c.first} said they sometimes feel worried before family time."]),
           family="fill")
    p.section("2. Health")
    p.para(f"The annual health assessment was completed on "
           f"{doc.d(doc.day - dt.timedelta(days=rng.randint(20, 150)))}. Immunisations are "
           "up to date and a dental check is booked. No concerns were raised about "
           "emotional wellbeing at this review.", family="fill")
    q = doc.page()
    q.text(f"{c.name}   {lac}   Review {doc.d(doc.day, 'numeric')}", bold=True, after=0.6)
    q.section("3. Education")
    q.para(f"{c.first} attends {school}. The personal education plan was reviewed this term and "
           f"the designated teacher reports that attendance is "
           f"{rng.randint(88, 99)}%. " + ("Extra reading support has been agreed."
                                          if age < 11 else
                                          "Revision support for exams has been agreed."),
           family="fill")
    q.section("4. Family time and contact")
    q.para("Supervised family time with mother takes place fortnightly at the family centre. "
           "Indirect contact with father is by letter every three months. The plan was agreed "
           "by everyone at the meeting.", family="fill")
    q.section("5. Actions agreed")
    q.table([("Action", 0.44, "l"), ("By whom", 0.32, "l"), ("By when", 0.24, "l")], [
        ["Update the care plan", "Social worker", doc.d(doc.later(14, 28), "numeric")],
        ["Arrange life story work", "Social worker", doc.d(doc.later(30, 60), "numeric")],
        ["Review school support", "Designated teacher", doc.d(doc.later(20, 40), "numeric")],
        ["Book dental check", "Foster carer", doc.d(doc.later(7, 21), "numeric")]],
        filled=True)
    q.field("Next review due", doc.d(next_review), label_frac=0.3)
    q.signature(doc.sig())
    q.field("Reviewing officer", iro.name, label_frac=0.3)
    return number_pages([p, q], lambda n, t: f"OFFICIAL-SENSITIVE   Page {n} of {t}")


def lac_placement_letter(doc: Doc) -> list[Page]:
    """A letter telling a school that a looked-after child has been placed."""
    rng = doc.rng
    c, dob = child(doc)
    lac = lac_reference(doc)
    sw = doc.person()
    teacher = doc.person()
    carers = doc.person()
    school = school_for(doc, dob)
    placed = doc.day - dt.timedelta(days=rng.randint(1, 10))
    doc.title = "Notification of placement of a looked after child"
    p = doc.page()
    letter_opening(p, doc, "Children's Services", [f"{teacher.full}", "Designated Teacher",
                                                  school, "Borsetshire"],
                   [("Our reference", lac)], private=True)
    p.text(f"Dear {teacher.formal},", after=0.5)
    p.text(f"Notification of placement: {c.name}, date of birth {doc.d(dob, 'numeric')}",
           bold=True, after=0.4)
    p.para(f"I am writing to let you know that {c.first}, who attends your school, is looked "
           f"after by {COUNCIL} under {rng.choice(LEGAL_STATUS)}. From {doc.d(placed)} "
           f"{c.first} has been living with foster carers {carers.full} and family.")
    p.para(f"{c.first}'s foster carers will now be the main contact for day to day matters such "
           "as attendance, trips and parents' evenings. Please do not share the carers' "
           "address with anyone else without speaking to me first.")
    p.para(f"A personal education plan meeting will be arranged within the next 20 school "
           f"days. I would be grateful if you could let me know of any concerns about "
           f"{c.first}'s progress or wellbeing, and tell me straight away if anyone other than "
           "the carers tries to collect them from school.")
    p.para("This letter contains confidential information about a child and should be kept "
           "securely on the child's school record.")
    letter_closing(p, doc, sw, "Social Worker, Children in Care Team")
    return [p]


def adoption_reference(doc: Doc) -> str:
    """An adoption agency case reference such as 'ADP/2020/031'."""
    return doc.ref(f"ADP/{doc.day.year}/{doc.rng.randint(1, 140):03d}")


def adoption_panel(doc: Doc) -> list[Page]:
    """An extract from the minutes of an adoption panel."""
    rng = doc.rng
    c, dob = child(doc, 1, 6)
    ref = adoption_reference(doc)
    chair, adviser, sw = doc.person(), doc.person(), doc.person()
    a1 = doc.person()
    a2 = doc.person()
    a2.last = a1.last
    doc.people[-1] = a2.name
    adm = doc.person()
    decision = doc.later(3, 12)
    doc.title = "Adoption panel minutes (extract)"
    p = doc.page()
    p.text("OFFICIAL-SENSITIVE", bold=True, align="center", colour="red", after=0.3)
    p.text(COUNCIL, family="head", bold=True, size=doc.house.body_pt + 3, colour="accent",
           after=0.05)
    p.heading("Adoption Panel - Minutes (extract)", after=0.4)
    for label, value in [("Date of panel", doc.d(doc.day)), ("Case reference", ref),
                         ("Panel chair", chair.name), ("Agency adviser", adviser.name),
                         ("Child", f"{c.name} (born {doc.d(dob, 'numeric')})"),
                         ("Prospective adopters", f"{a1.first} and {a2.first} {a1.last}"),
                         ("Presenting social worker", sw.name)]:
        p.field(label, value, label_frac=0.34, after=0.1)
    p.gap(0.4)
    p.section("Matter considered")
    p.para(f"The panel considered the proposed match between {c.first} and {a1.first} and "
           f"{a2.first} {a1.last}, who were approved as adopters by this agency in "
           f"{MONTHS[rng.randint(0, 11)]} {doc.day.year - 1}. The panel had read the child's "
           "permanence report, the adoption placement report and the proposed adoption "
           "support plan.")
    p.section("Recommendation")
    p.para(f"The panel unanimously recommends that {c.first} should be placed for adoption "
           f"with {a1.first} and {a2.first} {a1.last}.")
    pages = [p]
    q = p
    if rng.random() < 0.5:
        q = doc.page()
        pages.append(q)
        q.text(f"Case reference {ref} - continued", bold=True, after=0.6)
    q.section("Reasons")
    q.para(f"The adopters have shown a good understanding of {c.first}'s needs and history. "
           "They have a strong support network and have already begun to think about how they "
           "will help the child understand their story. The panel noted the agreed plan for "
           "letterbox contact with the birth family twice a year.")
    if q is not p:
        q.para("The panel asked that the adoption support plan include access to therapeutic "
               "parenting training in the first year and a review of the support plan six "
               "months after placement.")
    q.section("Agency decision")
    q.para(f"The agency decision maker, {adm.name}, considered the recommendation and agreed "
           f"the match on {doc.d(decision)}.")
    q.field("Signed (panel chair)", chair.name, label_frac=0.34)
    return number_pages(pages, lambda n, t: f"OFFICIAL-SENSITIVE   Page {n} of {t}")


def adoption_order_letter(doc: Doc) -> list[Page]:
    """A letter to adopters confirming an adoption order and support plan."""
    rng = doc.rng
    c, _dob = child(doc, 1, 6)
    ref = adoption_reference(doc)
    court_ref = doc.ref(f"BZ{doc.day.year % 100:02d}Z{rng.randint(10, 999):05d}")
    a1 = doc.person()
    a2 = doc.person()
    a2.last = a1.last
    doc.people[-1] = a2.name
    manager = doc.person()
    addr = doc.address()
    order = doc.day - dt.timedelta(days=rng.randint(3, 20))
    new_name = f"{c.first} {a1.last}"
    doc.title = "Adoption order and support plan letter"
    p = doc.page()
    letter_opening(p, doc, "Adoption Service", [f"{a1.full} and {a2.full}", *addr],
                   [("Our reference", ref), ("Court case number", court_ref)], private=True)
    p.text(f"Dear {a1.first} and {a2.first},", after=0.5)
    p.text(f"Adoption order - {new_name}", bold=True, after=0.4)
    p.para(f"I am delighted to confirm that the Family Court at Felpersham made an adoption "
           f"order for {new_name} on {doc.d(order)}. Congratulations to you all from everyone "
           "in the adoption team.")
    p.para("The court will send you the sealed order. You can then apply for a copy of the "
           "adoption certificate from the General Register Office. Please keep the order in a "
           "safe place, as you will need it to apply for a passport.")
    p.para("Your adoption support plan continues after the order. It includes letterbox "
           "contact with the birth family twice a year, which our letterbox coordinator will "
           "manage, and life story work which will be completed by the end of the year.")
    p.para("You can ask us for an assessment of your need for adoption support at any time, "
           "including therapy funded through the Adoption and Special Guardianship Support "
           "Fund. Please keep in touch and let us know how you are getting on.")
    letter_closing(p, doc, manager, "Adoption Team Manager")
    return [p]


COMPLAINT_TOPICS = [
    ("Waste and recycling",
     "MY GREEN BIN HAS BEEN MISSED THREE TIMES IN THE LAST TWO MONTHS. EACH TIME I REPORTED IT "
     "ONLINE AND WAS TOLD IT WOULD BE COLLECTED WITHIN TWO DAYS BUT NOBODY CAME.",
     "COLLECT THE BIN AND REFUND PART OF MY GARDEN WASTE SUBSCRIPTION."),
    ("Council Tax",
     "I WAS SENT A SUMMONS FOR COUNCIL TAX EVEN THOUGH I HAD SET UP A DIRECT DEBIT. I RANG "
     "FOUR TIMES AND WAS KEPT ON HOLD FOR OVER AN HOUR ON EACH OCCASION.",
     "CANCEL THE COURT COSTS AND CONFIRM MY ACCOUNT IS UP TO DATE."),
    ("Planning",
     "MY NEIGHBOURS BUILT AN EXTENSION AND I WAS NEVER CONSULTED. THE COUNCIL DID NOT "
     "RESPOND TO MY EMAILS ABOUT IT FOR SIX WEEKS.",
     "EXPLAIN WHY I WAS NOT CONSULTED AND INVESTIGATE WHETHER IT HAS PERMISSION."),
    ("Parks and open spaces",
     "THE PLAY AREA ON THE GREEN HAS HAD BROKEN SWINGS SINCE THE SPRING AND GLASS ON THE "
     "GROUND. I REPORTED THIS IN PERSON AT THE COUNCIL OFFICES.",
     "REPAIR THE EQUIPMENT AND CLEAN THE PLAY AREA REGULARLY."),
]


def complaint_reference(doc: Doc) -> str:
    """A complaint reference such as 'COMP-2022-118'."""
    return doc.ref(f"COMP-{doc.day.year}-{doc.rng.randint(1, 650):03d}")


def complaint_form(doc: Doc) -> list[Page]:
    """A comments, compliments and complaints form completed by a resident."""
    rng = doc.rng
    person = doc.person()
    addr = doc.address()
    service, details, outcome = rng.choice(COMPLAINT_TOPICS)
    ref = complaint_reference(doc)
    officer = doc.person()
    doc.title = f"Complaint about {service.lower()}"
    p = doc.page()
    form_top(p, doc, "Customer Services", "Comments, Compliments and Complaints",
             doc.later(1, 6))
    p.para("We welcome your feedback. Please tell us what happened so that we can look into it "
           "and put things right. We aim to respond within ten working days.")
    p.section("Your details")
    for label, value in [("Name", person.full), ("Address", ", ".join(addr[:2])),
                         ("Postcode", addr[-1]), ("Telephone", doc.phone()),
                         ("Email", doc.email(person))]:
        p.field(label, upper(value) if label != "Email" else value, boxed=True, filled=True,
                after=0.25)
    p.section("Your complaint")
    p.field("Service concerned", upper(service), boxed=True, filled=True)
    p.text("What happened?", after=0.2)
    p.para(details, family="fill", indent=4)
    p.text("What would you like us to do to put things right?", after=0.2)
    p.para(outcome, family="fill", indent=4)
    p.signature(doc.sig())
    p.field("Signed", upper(person.name), filled=True, label_frac=0.2, after=0.05)
    p.field("Date", fmt_date(doc.day, "numeric"), filled=True, label_frac=0.2, after=0.4)
    p.rule()
    p.text("FOR OFFICE USE ONLY", bold=True, after=0.2)
    p.field("Complaint reference", ref, label_frac=0.3, after=0.05)
    p.field("Logged by", officer.name, label_frac=0.3, after=0.05)
    p.field("Stage", "Stage 1", label_frac=0.3)
    return [p]


def complaint_response(doc: Doc) -> list[Page]:
    """A stage 1 response letter to a complaint."""
    rng = doc.rng
    person = doc.person()
    addr = doc.address()
    service, details, _outcome = rng.choice(COMPLAINT_TOPICS)
    ref = complaint_reference(doc)
    officer = doc.person()
    manager = doc.person()
    received = doc.day - dt.timedelta(days=rng.randint(5, 14))
    verdict = rng.choice(["upheld", "partly upheld", "not upheld"])
    doc.title = f"Stage 1 complaint response ({service.lower()})"
    p = doc.page()
    letter_opening(p, doc, "Customer Relations", [person.full, *addr],
                   [("Our reference", ref)])
    p.text(f"Dear {person.formal},", after=0.5)
    p.text(f"Your complaint - reference {ref}", bold=True, after=0.4)
    p.para(f"Thank you for your complaint about {service.lower()}, which we received on "
           f"{doc.d(received)}. I am sorry that you have had cause to complain. I have looked "
           "into the matters you raised and this letter is our response at Stage 1 of the "
           "council's complaints procedure.")
    summary = details.capitalize().split(". ")[0].lower()
    p.para(f"You told us that {summary}. I have spoken to {manager.name}, the service manager, "
           "and reviewed the records held on our systems.")
    p.para({
        "upheld": "I found that we did not provide the service you should have received, and "
                  "I have therefore upheld your complaint. The service has apologised and "
                  "has put the matter right. Staff have been reminded of the correct procedure.",
        "partly upheld": "I found that there were delays in our response, and I have partly "
                         "upheld your complaint. However, the records show that the service "
                         "was provided in line with our policy in other respects.",
        "not upheld": "Having reviewed the records I found that the service was provided in "
                      "line with our policy, and I have therefore not upheld your complaint. I "
                      "appreciate this is not the outcome you hoped for."}[verdict])
    p.para("If you are not satisfied with this response you can ask for your complaint to be "
           "considered at Stage 2 by writing to us within 20 working days, explaining why you "
           "remain unhappy. After that, you may refer the matter to the Local Government and "
           "Social Care Ombudsman.")
    letter_closing(p, doc, officer, "Customer Relations Officer")
    return [p]


COMMITTEES = [
    ("Planning Committee", "PC", ["Planning application {app} - {site}",
                                  "Planning appeals update", "Five year housing land supply"]),
    ("Licensing Committee", "LC", ["Review of premises licence - The Bull, {town}",
                                   "Taxi and private hire licensing policy",
                                   "Street trading consent fees"]),
    ("Cabinet", "CAB", ["Medium term financial strategy", "Leisure centre refurbishment",
                        "Climate emergency action plan"]),
    ("Audit and Governance Committee", "AG", ["Internal audit progress report",
                                              "Annual governance statement",
                                              "Risk management update"]),
    ("Overview and Scrutiny Committee", "OS", ["Waste collection performance",
                                               "Housing allocations review",
                                               "Customer services call waiting times"]),
]
RESOLUTIONS = [
    "RESOLVED: That the report be noted.",
    "RESOLVED: That the recommendations set out in the report be approved.",
    "RESOLVED: That the matter be deferred to the next meeting for further information.",
    "RESOLVED: That permission be granted subject to the conditions set out in the report.",
]


def committee(doc: Doc) -> tuple[str, str, list[str]]:
    """A committee name, minute prefix and substantive agenda items."""
    name, prefix, items = doc.rng.choice(COMMITTEES)
    town = doc.rng.choice(TOWNS)[0]
    site = ", ".join(doc.address()[:2])
    app = planning_ref(doc, doc.rng.choice(["FUL", "OUT"]))
    if "{app}" in items[0]:
        doc.ref(app)
    return name, prefix, [i.format(app=app, site=site, town=town) for i in items]


def subject(item: str) -> str:
    """An agenda item title as it reads inside a sentence."""
    head = item.split(" - ")[0]
    return head[0].lower() + head[1:]


def meeting_date(doc: Doc) -> dt.date:
    """A weekday evening meeting date (Monday to Thursday)."""
    day = doc.day
    while day.weekday() > 3:
        day -= dt.timedelta(days=1)
    doc.date = day
    return day


def committee_minutes(doc: Doc) -> list[Page]:
    """Minutes of a council committee meeting (2-3 pages)."""
    rng = doc.rng
    name, prefix, items = committee(doc)
    day = meeting_date(doc)
    members = [doc.person(title="Councillor") for _ in range(rng.randint(6, 8))]
    chair = members[0]
    officers = [(doc.person(), job) for job in ["Democratic Services Officer",
                                                 rng.choice(["Head of Planning",
                                                             "Chief Finance Officer",
                                                             "Licensing Manager",
                                                             "Head of Legal Services"])]]
    start_no = rng.randint(1, 90)
    numbers = [f"{prefix}/{day.year % 100:02d}/{start_no + k:03d}" for k in range(7)]
    for number in numbers:
        doc.ref(number)
    previous = day - dt.timedelta(days=rng.choice([28, 35, 42]))
    doc.title = f"Minutes of the {name}"
    p = doc.page()
    p.heading(COUNCIL.upper(), align="center", after=0.3)
    p.para(f"MINUTES of the meeting of the {name} held in the Council Chamber, Council "
           f"Offices, Felpersham on {fmt_date(day, 'weekday')} at 7.00 pm.")
    p.para(f"Present: Councillor {chair.first} {chair.last} (Chair); Councillors "
           + ", ".join(f"{m.first[0]} {m.last}" for m in members[1:-1])
           + f" and {members[-1].first[0]} {members[-1].last}.")
    p.para("Officers: " + "; ".join(f"{o.name} ({job})" for o, job in officers) + ".")
    absent = doc.person(title="Councillor")
    minutes = [
        ("Apologies for Absence",
         f"Apologies for absence were received from Councillor {absent.name}."),
        ("Declarations of Interest",
         rng.choice(["There were no declarations of interest.",
                     f"Councillor {members[2].last} declared a non-pecuniary interest in item "
                     f"{numbers[3]} as a member of the parish council and took no part in the "
                     "vote."])),
        ("Minutes",
         f"The minutes of the meeting held on {fmt_date(previous, 'long')} were confirmed as a "
         "correct record and signed by the Chair."),
    ]
    for item in items:
        minutes.append((item, f"The committee considered a report of the "
                              f"{officers[1][1]} on the {subject(item)}. "
                              + rng.choice([
                                  "Members asked questions about the costs involved and the "
                                  "timetable for delivery, which officers answered.",
                                  "In debate, members raised concerns about the impact on "
                                  "residents and asked that progress be reported regularly.",
                                  "A member of the public spoke on the item under the public "
                                  "participation scheme."])
                        + " " + rng.choice(RESOLUTIONS)))
    minutes.append(("Date of Next Meeting",
                    f"The next meeting will be held on "
                    f"{fmt_date(day + dt.timedelta(days=rng.choice([28, 35, 42])), 'weekday')} "
                    "at 7.00 pm."))
    three = rng.random() < 0.4
    split = [3, 5] if three else [4]
    pages = [p]
    q = p
    for k, (number, (title, text)) in enumerate(zip(numbers, minutes, strict=True)):
        if k in split:
            q = doc.page()
            pages.append(q)
            q.text(f"{name} - {fmt_date(day, 'long')}", bold=True, after=0.6)
        q.text(f"{number}   {title}", bold=True, after=0.25)
        q.para(text, indent=20 if doc.house.margin_mm < 24 else 16)
    q.gap(0.5).text(f"The meeting closed at {rng.randint(8, 9)}.{rng.choice(['05', '20', '45'])}"
                    " pm.", after=0.8)
    q.signature(doc.sig())
    q.text("Chair", after=0.3)
    q.text("Date ......................................", after=0.05)
    return number_pages(pages, lambda n, t: f"{name} {fmt_date(day, 'numeric')}   "
                                            f"Page {n} of {t}")


def committee_agenda(doc: Doc) -> list[Page]:
    """A summons and agenda for a committee meeting."""
    rng = doc.rng
    name, _prefix, items = committee(doc)
    day = meeting_date(doc)
    published = day - dt.timedelta(days=rng.choice([7, 8, 9]))
    doc.date = published
    chief = doc.person()
    contact = doc.person()
    key = doc.ref(f"KD/{day.year}/{rng.randint(1, 60):03d}")
    doc.title = f"Agenda for the {name}"
    p = doc.page()
    p.letterhead("Democratic Services", council_contact(doc, "Democratic Services"))
    p.text(f"Date of publication: {fmt_date(published, 'long')}", after=0.6)
    p.text(f"To: All Members of the {name}", after=0.5)
    p.para(f"You are summoned to attend a meeting of the {name} to be held in the Council "
           f"Chamber, Council Offices, Felpersham on {fmt_date(day, 'weekday')} at 7.00 pm, "
           "for the purpose of transacting the business set out below.")
    p.signature(doc.sig())
    p.text(chief.name, after=0.05).text("Chief Executive", after=0.6)
    p.heading("AGENDA", align="center", after=0.4)
    agenda = ["Apologies for absence", "Declarations of interest",
              "Minutes of the previous meeting", "Public participation", *items,
              "Exclusion of the press and public"]
    page_no = 1
    for k, item in enumerate(agenda, 1):
        pages = rng.randint(2, 14)
        extra = f" (Key Decision {key})" if k == 5 else ""
        p.field(f"{k}.", f"{item}{extra}   Pages {page_no} - {page_no + pages}", label_frac=0.07,
                after=0.3)
        page_no += pages + 1
    p.gap(0.4)
    p.para("Members of the public are welcome to attend. The meeting may be filmed or recorded. "
           "If you wish to speak on an item you must register by noon two working days before "
           "the meeting.")
    p.text(f"Contact: {contact.name}, Democratic Services Officer, {doc.phone()}", size=10)
    return [p]


MENU_DISHES = [("Chicken Chow Mein", 6.2, 8.5), ("Sweet and Sour Pork", 6.5, 8.9),
               ("Beef in Black Bean Sauce", 7.0, 9.5), ("Special Fried Rice", 5.5, 7.8),
               ("Salt and Pepper Chips", 3.8, 5.2), ("Crispy Duck (quarter)", 8.5, 11.5),
               ("Vegetable Spring Rolls (4)", 3.5, 4.8), ("Chicken Curry", 6.0, 8.2),
               ("King Prawn Szechuan", 8.0, 10.5), ("Egg Fried Rice", 3.2, 4.5),
               ("Prawn Crackers", 2.0, 3.2), ("Tofu with Mixed Vegetables", 5.9, 7.9)]


def takeaway_menu(doc: Doc) -> list[Page]:
    """A takeaway menu that found its way into a box of records."""
    rng = doc.rng
    doc.date = None
    name = rng.choice(["GOLDEN DRAGON", "JADE GARDEN", "LUCKY STAR", "HAPPY VALLEY"])
    town = rng.choice(TOWNS)[0]
    doc.house.head = "sans"
    doc.house.accent = (170, 20, 20)
    doc.title = "Takeaway menu (junk)"
    p = doc.page()
    p.heading(name, align="center", size=34, colour="accent", after=0.2)
    p.text("Chinese Takeaway and Delivery", align="center", size=16, bold=True, after=0.2)
    p.text(f"{rng.randint(1, 90)} {rng.choice(STREETS)}, {town}", align="center", after=0.1)
    p.text(f"Orders: {doc.phone()}", align="center", size=16, bold=True, after=0.8)
    p.text("Open 7 days: 5pm - 11pm (closed Tuesdays)", align="center", after=0.8)
    dishes = rng.sample(MENU_DISHES, 10)
    p.table([("No.", 0.1, "l"), ("Dish", 0.7, "l"), ("Price", 0.2, "r")],
            [[str(k), d, money(rng.uniform(lo, hi))] for k, (d, lo, hi) in enumerate(dishes, 1)])
    p.heading("SET MEALS", align="center", after=0.3)
    p.text(f"Meal for one {money(rng.uniform(11, 14))}   Meal for two {money(rng.uniform(22, 28))}",
           align="center", after=0.8)
    p.para("FREE DELIVERY on orders over £15 within 3 miles. Free prawn crackers with every "
           "order over £20. Please tell us about any allergies when you order. All dishes can "
           "be made without MSG on request. Prices may change without notice.")
    return [p]


def newsletter(doc: Doc) -> list[Page]:
    """A village newsletter, not a council record."""
    rng = doc.rng
    town = rng.choice(TOWNS)[0]
    season = ["Winter", "Spring", "Summer", "Autumn"][(doc.day.month % 12) // 3]
    editor, vicar = doc.person(), doc.person(title="Revd")
    doc.house.body = "serif"
    doc.title = "Village newsletter (junk)"
    p = doc.page()
    p.heading(f"{town} Village News", align="center", size=26, colour="accent", after=0.1)
    p.text(f"{season} {doc.day.year}   Issue {rng.randint(20, 180)}   Free to every household",
           align="center", after=0.4)
    p.rule(colour="accent")
    p.text("Summer Fete", bold=True, size=14, after=0.3)
    p.para(f"This year's fete will be held on the playing field on Saturday "
           f"{rng.randint(1, 28)} {rng.choice(['June', 'July'])} from 1pm. There will be a dog "
           "show, a tug of war and the ever popular cake stall. Volunteers are needed to help "
           "set up the marquee on the Friday evening.")
    p.text("Litter Pick", bold=True, size=14, after=0.3)
    p.para("Thank you to the twenty three volunteers who joined our spring litter pick. "
           "Between us we filled thirty one bags, and the parish council has kindly provided "
           "new litter pickers for next time.")
    p.text("Church Services", bold=True, size=14, after=0.3)
    p.para(f"Services are held every Sunday at 10am, with evensong on the first Sunday of the "
           f"month. {vicar.full} will be on holiday in August; services will be taken by "
           "visiting clergy.")
    p.text("Contributions", bold=True, size=14, after=0.3)
    p.para(f"Please send news and photographs for the next issue to the editor, {editor.name}, "
           f"by the end of the month. Telephone {doc.phone()}.")
    return [p]


def blank_page(doc: Doc) -> list[Page]:
    """A blank sheet (a separator or the back of a page scanned by mistake)."""
    doc.date = None
    doc.title = "Blank page (junk)"
    return [doc.page()]


Template = Callable[[Doc], list[Page]]
TEMPLATES: dict[str, Template] = {
    "council-tax/bill-letter": council_tax_bill,
    "council-tax/discount-form": council_tax_discount_form,
    "business-rates/demand-notice": business_rates_demand,
    "business-rates/relief-form": business_rates_relief_form,
    "housing-benefit/award-letter": housing_benefit_award,
    "housing-benefit/change-form": housing_benefit_change_form,
    "planning-application/decision-notice": planning_decision,
    "planning-application/objection-letter": planning_objection,
    "planning-enforcement/enforcement-notice": enforcement_notice,
    "planning-enforcement/site-visit-report": enforcement_site_report,
    "hr-personnel/offer-letter": hr_offer_letter,
    "hr-personnel/return-to-work-form": hr_return_to_work,
    "payroll/payslip": payslip,
    "payroll/overtime-claim": overtime_claim,
    "accounts-payable/purchase-order": purchase_order,
    "accounts-payable/supplier-invoice": supplier_invoice,
    "contract/services-agreement": services_agreement,
    "contract/variation-letter": contract_variation,
    "foi-request/response-letter": foi_response,
    "foi-request/request-email": foi_request,
    "looked-after-child/review-record": lac_review,
    "looked-after-child/placement-letter": lac_placement_letter,
    "adoption/panel-minutes": adoption_panel,
    "adoption/order-letter": adoption_order_letter,
    "complaint/stage1-response": complaint_response,
    "complaint/complaint-form": complaint_form,
    "committee-minutes/minutes": committee_minutes,
    "committee-minutes/agenda": committee_agenda,
    "junk/takeaway-menu": takeaway_menu,
    "junk/newsletter": newsletter,
    "junk/blank-page": blank_page,
}
# Round-robin order: interleaved so that a dozen documents cover many kinds of record.
TYPE_ORDER = ["council-tax", "planning-application", "hr-personnel", "foi-request",
              "looked-after-child", "accounts-payable", "junk", "complaint", "housing-benefit",
              "contract", "committee-minutes", "adoption", "business-rates", "payroll",
              "planning-enforcement"]


# ---------------------------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------------------------


class Renderer:
    """Lays out a Page onto an RGB image at a given DPI and returns the printed lines."""

    def __init__(self, fonts: FontBook, dpi: int) -> None:
        self.fonts = fonts
        self.dpi = dpi
        self.size = (round(A4_MM[0] / 25.4 * dpi), round(A4_MM[1] / 25.4 * dpi))

    def mm(self, value: float) -> int:
        """Millimetres to pixels."""
        return round(value / 25.4 * self.dpi)

    def pt(self, value: float) -> int:
        """Points to pixels."""
        return round(value / 72 * self.dpi)

    def render(self, page: Page) -> tuple[Image.Image, list[str]]:
        """Draw ``page``; return the image and the printed text lines in reading order."""
        h = page.house
        self.house = h
        self.img = Image.new("RGB", self.size, (255, 255, 255))
        self.draw = ImageDraw.Draw(self.img)
        self.left = self.mm(h.margin_mm)
        self.right = self.size[0] - self.mm(h.margin_mm)
        self.y = self.mm(16)
        self.bottom = self.size[1] - self.mm(18)
        self.lines: list[str] = []
        footer: str | None = None
        for kind, kw in page.ops:
            if kind == "footer":
                footer = kw["text"]
                continue
            getattr(self, f"_op_{kind}")(**kw)
            if self.y > self.bottom:
                raise LayoutError(f"page overflows at op {kind}: {kw}")
        if footer is not None:
            font = self._font("body", False, 9)
            y = self.size[1] - self.mm(12)
            self._draw_line(footer, font, "center", y, self.left, "ink")
        return self.img, self.lines

    # -- helpers ------------------------------------------------------------------------------

    def _font(self, family: str, bold: bool, size: float | None) -> Any:
        concrete = {"body": self.house.body, "head": self.house.head,
                    "fill": self.house.fill}.get(family, family)
        return self.fonts.get(concrete, bold, self.pt(size or self.house.body_pt))

    def _colour(self, colour: str | tuple[int, int, int]) -> tuple[int, int, int]:
        if isinstance(colour, tuple):
            return colour
        return {"ink": INK, "accent": self.house.accent, "red": RED}[colour]

    def _line_height(self, font: Any) -> int:
        return round(font.size * self.house.spacing)

    def _wrap(self, text: str, font: Any, width: int) -> list[str]:
        words, lines, current = text.split(), [], ""
        for word in words:
            trial = f"{current} {word}" if current else word
            if current and font.getlength(trial) > width:
                lines.append(current)
                current = word
            else:
                current = trial
        if current:
            lines.append(current)
        return lines

    def _draw_line(self, text: str, font: Any, align: str, y: int, x0: int,
                   colour: str | tuple[int, int, int]) -> None:
        width = font.getlength(text)
        if align == "center":
            x = (self.left + self.right - width) / 2
        elif align == "right":
            x = self.right - width
        else:
            x = x0
        self.draw.text((round(x), y), text, font=font, fill=self._colour(colour))
        self.lines.append(text)

    def _advance(self, lines: float) -> None:
        self.y += round(self.pt(self.house.body_pt) * self.house.spacing * lines)

    # -- operations ---------------------------------------------------------------------------

    def _op_text(self, text: str, size: float | None, family: str, bold: bool, align: str,
                 indent: float, colour: str | tuple[int, int, int], after: float) -> None:
        font = self._font(family, bold, size)
        x0 = self.left + self.mm(indent)
        for line in self._wrap(text, font, self.right - x0):
            self._draw_line(line, font, align, self.y, x0, colour)
            self.y += self._line_height(font)
        self._advance(after)

    def _op_field(self, label: str, value: str, boxed: bool, label_frac: float, filled: bool,
                  after: float) -> None:
        lfont = self._font("body", False, None)
        vfont = self._font("fill" if filled else "body", filled and self.house.fill != "mono",
                           None)
        vx = max(self.left + round((self.right - self.left) * label_frac),
                 self.left + round(lfont.getlength(label)) + self.mm(4))
        pad = self.mm(1.5)
        values = self._wrap(value, vfont, self.right - vx - 2 * pad) or [""]
        lh = self._line_height(vfont)
        if boxed:
            top = self.y - pad
            self.draw.rectangle((vx - pad, top, self.right, self.y + lh * len(values)),
                                outline=(90, 90, 90), width=max(1, self.mm(0.25)))
        self.draw.text((self.left, self.y), label, font=lfont, fill=INK)
        for k, line in enumerate(values):
            self.draw.text((vx + (pad if boxed else 0), self.y), line, font=vfont, fill=INK)
            self.lines.append(f"{label} {line}".strip() if k == 0 else line)
            self.y += lh
        if boxed:
            self.y += pad
        self._advance(after)

    def _op_table(self, columns: list[tuple[str, float, str]], rows: list[list[str]],
                  header: bool, bold_last: bool, filled: bool, after: float) -> None:
        width = self.right - self.left
        edges, x = [], self.left
        for _, frac, _ in columns:
            edges.append((x, x + round(width * frac)))
            x += round(width * frac)
        pad = self.mm(1.2)
        body_rows: list[tuple[list[str], bool, bool]] = [
            (r, bold_last and k == len(rows) - 1, filled) for k, r in enumerate(rows)]
        all_rows = ([([c[0] for c in columns], True, False)] if header else []) + body_rows
        thin = max(1, self.mm(0.2))
        self.draw.line((self.left, self.y - pad, self.right, self.y - pad), fill=INK, width=thin)
        for k, (cells, bold, fill_face) in enumerate(all_rows):
            font = self._font("fill" if fill_face else "body", bold, None)
            printed = []
            for (x0, x1), (_, _, align), cell in zip(edges, columns, cells, strict=True):
                if not cell:
                    continue
                cw = font.getlength(cell)
                if cw > x1 - x0 - 2 * pad:
                    raise LayoutError(f"table cell too wide: {cell!r}")
                cx = x1 - pad - cw if align == "r" else x0 + pad
                self.draw.text((round(cx), self.y), cell, font=font, fill=INK)
                printed.append(cell)
            self.lines.append(" ".join(printed))
            self.y += self._line_height(font)
            if (header and k == 0) or (bold and k == len(all_rows) - 1):
                self.draw.line((self.left, self.y - pad // 2, self.right, self.y - pad // 2),
                               fill=INK, width=thin)
        self.draw.line((self.left, self.y, self.right, self.y), fill=INK, width=thin)
        self._advance(after + 0.2)

    def _op_rule(self, colour: str | tuple[int, int, int], after: float) -> None:
        self.draw.line((self.left, self.y, self.right, self.y), fill=self._colour(colour),
                       width=max(1, self.mm(0.4)))
        self._advance(after)

    def _op_gap(self, lines: float) -> None:
        self._advance(lines)

    def _op_signature(self, seed: int) -> None:
        rng = random.Random(seed)
        height = self.mm(11)
        x0 = self.left + self.mm(rng.uniform(1, 10))
        length = self.mm(rng.uniform(35, 60))
        mid = self.y + height // 2
        points = []
        loops = rng.uniform(4, 9)
        amp = height * rng.uniform(0.25, 0.45)
        for k in range(200):
            t = k / 199
            x = x0 + t * length + math.sin(t * loops * 2 * math.pi) * self.mm(2.5)
            y = mid + math.cos(t * loops * 2 * math.pi * 0.97) * amp * (1 - 0.5 * t)
            points.append((x, y))
        self.draw.line(points, fill=(25, 35, 90), width=max(2, self.mm(0.45)), joint="curve")
        self.y += height + self.mm(1)

    def _op_stamp(self, lines: list[str]) -> None:
        font = self._font("sans", True, 10)
        lh = self._line_height(font)
        pad = self.mm(2.5)
        width = max(font.getlength(s) for s in lines) + 2 * pad
        x1 = self.right
        x0 = x1 - width
        top = self.y
        self.draw.rectangle((x0, top, x1, top + lh * len(lines) + 2 * pad), outline=RED,
                            width=max(2, self.mm(0.6)))
        y = top + pad
        for line in lines:
            lw = font.getlength(line)
            self.draw.text((round(x0 + (width - lw) / 2), y), line, font=font, fill=RED)
            self.lines.append(line)
            y += lh
        self.y = y + pad + self.mm(4)

    def _op_letterhead(self, dept: str, contact: str) -> None:
        h = self.house
        size = self.mm(17)
        x, y = self.left, self.y
        accent = h.accent
        shield = [(x, y), (x + size * 0.8, y), (x + size * 0.8, y + size * 0.55),
                  (x + size * 0.4, y + size), (x, y + size * 0.55)]
        self.draw.polygon(shield, outline=accent, fill=None, width=max(2, self.mm(0.8)))
        cx = x + size * 0.4
        self.draw.line((cx, y + size * 0.12, cx, y + size * 0.82), fill=accent,
                       width=max(2, self.mm(1.2)))
        self.draw.line((x + size * 0.12, y + size * 0.38, x + size * 0.68, y + size * 0.38),
                       fill=accent, width=max(2, self.mm(1.2)))
        tx = x + size + self.mm(4)
        name_font = self._font("head", True, 19)
        dept_font = self._font("head", False, 12)
        self.draw.text((tx, y), COUNCIL, font=name_font, fill=accent)
        self.lines.append(COUNCIL)
        y2 = y + round(name_font.size * 1.3)
        self.draw.text((tx, y2), dept, font=dept_font, fill=accent)
        self.lines.append(dept)
        self.y = max(y + size, y2 + self._line_height(dept_font)) + self.mm(2)
        small = self._font("body", False, 9)
        self._draw_line(COUNCIL_ADDRESS_LINE, small, "left", self.y, self.left, "ink")
        self.y += self._line_height(small)
        self._draw_line(contact, small, "left", self.y, self.left, "ink")
        self.y += self._line_height(small) + self.mm(1.5)
        self.draw.line((self.left, self.y, self.right, self.y), fill=accent,
                       width=max(2, self.mm(0.6)))
        self.y += self.mm(7)


# ---------------------------------------------------------------------------------------------
# Degradation and encoding
# ---------------------------------------------------------------------------------------------

# (format, encoding) cycles: single pages may be any format; multi-page documents need a
# container that holds several pages.
SINGLE_CYCLE = [("jpeg", "jpeg-grey"), ("pdf", "ccitt-g4"), ("tiff", "ccitt-g4"),
                ("jpeg", "jpeg-colour"), ("png", "png-grey"), ("pdf", "jpeg-grey"),
                ("jpeg", "jpeg-grey"), ("tiff", "lzw-grey")]
MULTI_CYCLE = [("pdf", "ccitt-g4"), ("tiff", "ccitt-g4"), ("tiff", "lzw-grey"),
               ("pdf", "jpeg-grey")]
EXTENSIONS = {"pdf": ".pdf", "tiff": ".tif", "jpeg": ".jpg", "png": ".png"}
JPEG_QUALITY = 75


def plan_degradations(rng: random.Random, encoding: str) -> dict[str, Any]:
    """Choose, at random, how one page is damaged by printing, handling and scanning."""
    magnitude = 0.5 + 2.5 * rng.random() ** 2
    skew = round(magnitude * rng.choice([-1, 1]), 2) if rng.random() < 0.85 else round(
        rng.uniform(-0.3, 0.3), 2)
    r = rng.random()
    rotation = 0 if r < 0.8 else 180 if r < 0.88 else 90 if r < 0.94 else 270
    colour = encoding.endswith("colour")
    return {
        "rotation": rotation,
        "skew_deg": skew,
        "low_ink": round(rng.uniform(0.5, 0.72), 2) if rng.random() < 0.25 else None,
        "blur_px": round(rng.uniform(0.6, 1.3), 2) if rng.random() < 0.3 else None,
        "speckles": rng.randint(150, 1200) if rng.random() < 0.45 else 0,
        "grain": rng.randint(4, 10) if (encoding.startswith("jpeg")
                                        and rng.random() < 0.3) else 0,
        "jpeg_artefacts_q": rng.randint(18, 35) if rng.random() < 0.2 else None,
        "edge_shadow": rng.choice(["left", "right", "top", "bottom"])
        if rng.random() < 0.15 else None,
        "fold_line": rng.random() < 0.12,
        "paper": ((250, 247, 236) if colour else (248, 248, 248)) if rng.random() < 0.5
        else (255, 255, 255),
        "noise_seed": rng.randint(0, 2**31),
    }


ROUGH_DAMAGE = ("streaks", "speckle", "broken_strokes", "heavy_jpeg", "fax", "carbon_blur",
                "show_through", "stain", "faded")
# Pages whose text may show through from the back of a rough page (any page with text).
BACK_TEMPLATES = tuple(sorted(t for t in TEMPLATES if t != "junk/blank-page"))
SHADOW_SIDES = ("left", "right", "top", "bottom")


def plan_stain(rng: random.Random) -> dict[str, Any]:
    """Tea or water stains (irregular blots with a darker tide-line rim) and/or an uneven paper
    tone across the page (yellowed edges or a lid-shadow gradient). Levels are how many grey
    levels darker than the paper the stain makes it, at most."""
    r = rng.random()
    blots = [{"x": round(rng.uniform(0.15, 0.85), 3), "y": round(rng.uniform(0.1, 0.9), 3),
              "radius_mm": round(rng.uniform(14, 40), 1), "interior": rng.randint(12, 35),
              "rim": rng.randint(40, 85), "rim_mm": round(rng.uniform(0.8, 2.2), 2),
              "shape_seed": rng.randint(0, 2**31)}
             for _ in range(rng.randint(1, 2) if r < 0.75 else 0)]
    gradient = None
    if r >= 0.45:
        gradient = {"kind": rng.choice(("yellowed_edges", *SHADOW_SIDES)),
                    "depth": rng.randint(25, 70), "reach": round(rng.uniform(0.12, 0.45), 2)}
    return {"blots": blots, "gradient": gradient}


def plan_rough(rng: random.Random, pool: Sequence[str] = ROUGH_DAMAGE) -> dict[str, Any]:
    """Choose the heavy damage of one rough page: photocopies of photocopies, faxes, carbons,
    old files (text showing through from the back, stains, faded type on greyed paper).

    Two to four kinds of damage from ``pool`` (fewer when the pool is smaller); drawn from
    their own random stream, so asking for rough pages never changes the clean and office
    pages of the same seed.
    """
    kinds = rng.sample(list(pool), min(rng.randint(2, 4), len(pool)))
    if "fax" in kinds and "heavy_jpeg" in kinds:  # a fax is bilevel, not a JPEG
        kinds.remove("heavy_jpeg")
        if len(kinds) < 2 and "streaks" in pool:
            kinds.append("streaks")
    r = rng.random()
    rough: dict[str, Any] = {"damage": sorted(kinds),
                             "rotation": 0 if r < 0.6 else 180 if r < 0.75 else 90 if r < 0.88
                             else 270}
    if "streaks" in kinds:
        rough["streaks"] = [(rng.random(), rng.randint(2, 6), rng.randint(40, 120))
                            for _ in range(rng.randint(2, 6))]
    if "speckle" in kinds:
        rough["speckle_dots"] = rng.randint(2500, 6000)
    if "broken_strokes" in kinds:
        rough["ink"] = round(rng.uniform(0.6, 0.75), 2)
    if "heavy_jpeg" in kinds:
        rough["jpeg_q"] = rng.randint(10, 16)
    if "fax" in kinds:
        rough["fax_noise"] = round(rng.uniform(0.002, 0.006), 4)
    if "carbon_blur" in kinds:
        rough["blur_px"] = round(rng.uniform(1.3, 1.9), 2)
    rough["seed"] = rng.randint(0, 2**31)
    if "show_through" in kinds:
        # The back: another document's first page, mirrored, seen through the paper.
        rough["show_through"] = {"template": rng.choice(BACK_TEMPLATES),
                                 "content_seed": rng.randint(0, 2**31),
                                 "ink": round(rng.uniform(0.10, 0.25), 2),
                                 "blur_px": round(rng.uniform(0.6, 1.6), 2),
                                 "offset_mm": (round(rng.uniform(-6, 6), 1),
                                               round(rng.uniform(-8, 8), 1))}
    if "stain" in kinds:
        rough["stain"] = plan_stain(rng)
    if "faded" in kinds:
        paper = rng.randint(190, 220)
        ink = rng.randint(110, min(160, paper - 50))
        rough["faded"] = {"ink": ink, "paper": paper,
                          # a black-and-white scanner's automatic threshold on this page
                          "bilevel_threshold": (ink + paper) // 2}
    return rough


def rough_params(rough: dict[str, Any]) -> dict[str, Any]:
    """The parameters of a rough page's damage, for the manifest (JSON-friendly)."""
    return json.loads(json.dumps({k: v for k, v in rough.items()
                                  if k not in ("damage", "rotation", "seed")}))


def page_level(deg: dict[str, Any]) -> str:
    """clean (only skew and paper tone), office (ordinary wear), or rough (heavy damage)."""
    if deg.get("rough"):
        return "rough"
    wear = (deg["low_ink"], deg["blur_px"], deg["speckles"], deg["grain"],
            deg["jpeg_artefacts_q"], deg["edge_shadow"], deg["fold_line"])
    return "office" if any(wear) else "clean"


def _darken(img: Image.Image, darkness: Image.Image,
            tint: tuple[float, float, float]) -> Image.Image:
    """Multiply ``img`` by (255 - darkness); on colour pages each channel darkens by its share
    of ``tint`` (stains and old paper go brown or yellow: blue darkens most)."""
    if img.mode == "L":
        return ImageChops.multiply(img, darkness.point([255 - v for v in range(256)]))
    factors = [darkness.point([max(0, round(255 - v * share)) for v in range(256)])
               for share in tint]
    return ImageChops.multiply(img, Image.merge("RGB", factors))


def _show_through(img: Image.Image, params: dict[str, Any], back: Image.Image,
                  dpi: int) -> Image.Image:
    """The reverse side's text seen faintly through the paper: mirrored left-right, a little
    out of register and blurred, its ink at ``params['ink']`` of full strength."""
    scale = dpi / 300
    mirrored = back.convert("L").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    dx, dy = (round(v / 25.4 * dpi) for v in params["offset_mm"])
    shifted = Image.new("L", mirrored.size, 255)
    shifted.paste(mirrored, (dx, dy))
    shifted = shifted.filter(ImageFilter.GaussianBlur(params["blur_px"] * scale))
    darkness = shifted.point([round((255 - v) * params["ink"]) for v in range(256)])
    return _darken(img, darkness, (1.0, 1.0, 1.0))


def _blot_outline(blot: dict[str, Any], w: int, h: int, dpi: int) -> list[tuple[float, float]]:
    """An irregular closed outline: a circle wobbled by a few random harmonics."""
    shape = random.Random(blot["shape_seed"])
    harmonics = [(k, shape.uniform(0.02, 0.12), shape.uniform(0, 2 * math.pi))
                 for k in range(2, 7)]
    cx, cy, radius = blot["x"] * w, blot["y"] * h, blot["radius_mm"] / 25.4 * dpi
    points = []
    for step in range(96):
        t = step / 96 * 2 * math.pi
        r = radius * (1 + sum(a * math.sin(k * t + phase) for k, a, phase in harmonics))
        points.append((cx + r * math.cos(t), cy + r * math.sin(t)))
    return points


def _gradient(spec: dict[str, Any], w: int, h: int) -> Image.Image:
    """Uneven paper tone as a darkness map: yellowed edges all round, or a lid shadow fading
    in from one side, reaching ``reach`` of the page."""
    cells_w, cells_h = w // 16 + 2, h // 16 + 2
    small = Image.new("L", (cells_w, cells_h), 0)
    values = []
    for j in range(cells_h):
        for i in range(cells_w):
            fx, fy = i / (cells_w - 1), j / (cells_h - 1)
            distance = {"left": fx, "right": 1 - fx, "top": fy, "bottom": 1 - fy}.get(
                spec["kind"], min(fx, 1 - fx, fy * h / w, (1 - fy) * h / w))
            values.append(round(spec["depth"] * max(0.0, 1 - distance / spec["reach"]) ** 1.5))
    small.putdata(values)
    return small.resize((w, h), Image.Resampling.BILINEAR)


def _stain(img: Image.Image, params: dict[str, Any], dpi: int) -> Image.Image:
    """Tea or water blots with a darker tide-line rim, and/or a paper-tone gradient."""
    scale = dpi / 300
    w, h = img.size
    darkness = Image.new("L", (w, h), 0)
    for blot in params["blots"]:
        layer = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(layer)
        outline = _blot_outline(blot, w, h, dpi)
        draw.polygon(outline, fill=blot["interior"])
        draw.line(outline + outline[:1], fill=blot["rim"],
                  width=max(2, round(blot["rim_mm"] / 25.4 * dpi)), joint="curve")
        layer = layer.filter(ImageFilter.GaussianBlur(2.5 * scale))
        darkness = ImageChops.lighter(darkness, layer)
    if params["gradient"]:
        darkness = ImageChops.add(darkness, _gradient(params["gradient"], w, h))
    return _darken(img, darkness, (0.75, 1.0, 1.6))


def _fade(img: Image.Image, params: dict[str, Any]) -> Image.Image:
    """Grey type on greyish paper: the page's own ink and paper levels (1st and 50th
    percentiles) are mapped linearly onto ``params['ink']`` and ``params['paper']``."""
    histogram = img.convert("L").histogram()
    paper_now = _percentile(histogram, 0.5)
    ink_now = _percentile(histogram, 0.01)
    if paper_now - ink_now < 60:  # nearly blank: assume full-strength ink
        ink_now = max(0, paper_now - 233)
    ink, paper = params["ink"], params["paper"]
    tints = (0, 4, 14) if img.mode == "RGB" else (0,)  # old paper goes yellow
    lut: list[int] = []
    for tint in tints:
        top = paper - tint
        lut += [max(0, min(255, round(ink + (top - ink) * (v - ink_now)
                                      / (paper_now - ink_now)))) for v in range(256)]
    return img.point(lut)


def _roughen_paper(img: Image.Image, rough: dict[str, Any], dpi: int,
                   back: Image.Image | None = None) -> Image.Image:
    """Damage made on the paper itself (copier drum, toner, carbon, age), upright, before
    scanning. ``back`` is the reverse side's page, for show-through."""
    rng = random.Random(rough["seed"])
    scale = dpi / 300
    w, h = img.size
    bands = img.getbands()
    if "show_through" in rough["damage"]:
        if back is None:
            raise ValueError("show_through needs the back page's image")
        img = _show_through(img, rough["show_through"], back, dpi)
    if "stain" in rough["damage"]:
        img = _stain(img, rough["stain"], dpi)
    if "broken_strokes" in rough["damage"]:
        # Low toner: ink faded, and patchy — blotches where strokes break up.
        ink = rough["ink"]
        img = img.point([round(255 - (255 - v) * ink) for v in range(256)] * len(bands))
        cells = Image.frombytes("L", (w // 12 + 1, h // 12 + 1),
                                rng.randbytes((w // 12 + 1) * (h // 12 + 1)))
        mask = cells.resize((w, h), Image.Resampling.BILINEAR).point(
            [255 if v > 200 else 0 for v in range(256)])
        light = img.point([min(255, v + 60) for v in range(256)] * len(bands))
        img = Image.composite(light, img, mask)
    if "carbon_blur" in rough["damage"]:
        img = img.filter(ImageFilter.GaussianBlur(rough["blur_px"] * scale))
        img = img.point([round(70 + v * (230 - 70) / 255) for v in range(256)] * len(bands))
    if "faded" in rough["damage"]:
        # After the other ink and paper damage, so the page ends at the planned levels; the
        # copier's streaks and specks below stay dark.
        img = _fade(img, rough["faded"])
    draw = ImageDraw.Draw(img)
    for position, width, level in rough.get("streaks", []):
        x = round(position * w)
        fill: Any = (level,) * len(bands) if len(bands) > 1 else level
        draw.rectangle((x, 0, x + round(width * scale) - 1, h), fill=fill)
    for _ in range(rough.get("speckle_dots", 0)):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.choice([0.5, 1, 1, 1.5]) * scale
        level = rng.randint(0, 90)
        draw.ellipse((x - r, y - r, x + r, y + r),
                     fill=(level,) * len(bands) if len(bands) > 1 else level)
    return img


def _percentile(histogram: list[int], share: float) -> int:
    """The grey level under which ``share`` of the pixels lie."""
    target, seen = share * sum(histogram), 0
    for level, count in enumerate(histogram):
        seen += count
        if seen >= target:
            return level
    return 255


def _roughen_scan(img: Image.Image, rough: dict[str, Any]) -> Image.Image:
    """Damage made on the way in: fax transmission or a heavily compressed scan."""
    rng = random.Random(rough["seed"] + 1)
    if "fax" in rough["damage"]:
        grey = img.convert("L")
        w, h = grey.size
        # Fax "standard" mode: half the vertical resolution, then thresholded with line noise.
        grey = grey.resize((w, h // 2), Image.Resampling.BOX).resize((w, h))
        noise = Image.frombytes("L", (w, h), rng.randbytes(w * h))
        cut = round(255 * rough["fax_noise"])
        flips = noise.point([0 if v < cut else 255 for v in range(256)])
        # The fax machine's automatic gain: the threshold sits between its ink and its paper.
        histogram = grey.histogram()
        ink, paper = _percentile(histogram, 0.02), _percentile(histogram, 0.6)
        cut_level = (ink + paper) // 2
        faxed = grey.point([0 if v < cut_level else 255 for v in range(256)])
        faxed = ImageChops.darker(faxed, flips)
        img = faxed.convert(img.mode)
    if "heavy_jpeg" in rough["damage"]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=rough["jpeg_q"])
        img = Image.open(io.BytesIO(buf.getvalue()))
        img.load()
    return img


def degrade(img: Image.Image, deg: dict[str, Any], dpi: int, colour: bool,
            back: Image.Image | None = None) -> Image.Image:
    """Apply the planned degradations to a rendered page (upright) and rotate it. ``back`` is
    the page printed on the reverse side (needed only for rough show-through)."""
    rng = random.Random(deg["noise_seed"])
    scale = dpi / 300
    if not colour:
        img = img.convert("L")
    paper = deg["paper"] if colour else (deg["paper"][0],)
    ink = deg["low_ink"] or 1.0
    lut: list[int] = []
    for tone in paper:
        lut += [round((255 - (255 - v) * ink) * tone / 255) for v in range(256)]
    img = img.point(lut)
    bg: Any = tuple(paper) if colour else paper[0]
    draw = ImageDraw.Draw(img)
    w, h = img.size
    if deg["fold_line"]:
        y = h // 3 + rng.randint(-40, 40)
        shade = tuple(max(0, c - 40) for c in paper)
        draw.line((0, y, w, y + rng.randint(-15, 15)), fill=shade if colour else shade[0],
                  width=max(1, round(2 * scale)))
    if deg["blur_px"]:
        img = img.filter(ImageFilter.GaussianBlur(deg["blur_px"] * scale))
        draw = ImageDraw.Draw(img)
    for _ in range(deg["speckles"]):
        x, y = rng.randrange(w), rng.randrange(h)
        r = rng.choice([1, 1, 2, 2, 3]) * scale
        level = rng.randint(30, 110)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=(level,) * 3 if colour else level)
    if deg["grain"]:
        noise = Image.frombytes("L", (w, h), rng.randbytes(w * h))
        noise = noise.point([v * deg["grain"] // 255 for v in range(256)])
        if colour:
            noise = Image.merge("RGB", (noise, noise, noise))
        img = ImageChops.subtract(img, noise)
    if deg["edge_shadow"]:
        draw = ImageDraw.Draw(img)
        band = round(rng.uniform(6, 14) / 25.4 * dpi)
        for k in range(band):
            level = round(70 + (paper[0] - 70) * (k / band) ** 0.6)
            fill: Any = (level,) * 3 if colour else level
            side = deg["edge_shadow"]
            if side == "left":
                draw.line((k, 0, k, h), fill=fill)
            elif side == "right":
                draw.line((w - 1 - k, 0, w - 1 - k, h), fill=fill)
            elif side == "top":
                draw.line((0, k, w, k), fill=fill)
            else:
                draw.line((0, h - 1 - k, w, h - 1 - k), fill=fill)
    if deg.get("rough"):
        img = _roughen_paper(img, deg["rough"], dpi, back)
    if deg["skew_deg"]:
        img = img.rotate(deg["skew_deg"], resample=Image.Resampling.BICUBIC, expand=False,
                         fillcolor=bg)
    if deg["jpeg_artefacts_q"]:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=deg["jpeg_artefacts_q"])
        img = Image.open(io.BytesIO(buf.getvalue()))
        img.load()
    if deg.get("rough"):
        img = _roughen_scan(img, deg["rough"])
    turn = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180,
            270: Image.Transpose.ROTATE_270}.get(deg["rotation"])
    if turn is not None:
        img = img.transpose(turn)
    return img


def bilevel(img: Image.Image, threshold: int = 165) -> Image.Image:
    """Threshold a page to 1 bit per pixel, as a black-and-white scanner does."""
    return img.convert("L").point([0 if v < threshold else 255 for v in range(256)], "1")


def encode(images: list[Image.Image], fmt: str, encoding: str, dpi: int,
           scanned: dt.datetime, thresholds: Sequence[int] | None = None) -> bytes:
    """Encode degraded page images as one file of the given format and encoding.

    ``thresholds``: per page, the grey level a bilevel encoding cuts at (165 when not given).
    """
    buf = io.BytesIO()
    res = (dpi, dpi)
    cuts = list(thresholds) if thresholds is not None else [165] * len(images)
    if fmt == "tiff":
        frames = ([bilevel(i, t) for i, t in zip(images, cuts, strict=True)]
                  if encoding == "ccitt-g4"
                  else [i.convert("L") for i in images])
        compression = "group4" if encoding == "ccitt-g4" else "tiff_lzw"
        frames[0].save(buf, "TIFF", save_all=True, append_images=frames[1:],
                       compression=compression, dpi=res)
    elif fmt == "jpeg":
        img = images[0] if encoding == "jpeg-colour" else images[0].convert("L")
        img.save(buf, "JPEG", quality=JPEG_QUALITY, dpi=res, optimize=True)
    elif fmt == "png":
        images[0].convert("L").save(buf, "PNG", dpi=res, optimize=True)
    elif fmt == "pdf":
        parts = []
        for img, cut in zip(images, cuts, strict=True):
            part = io.BytesIO()
            if encoding == "ccitt-g4":
                bilevel(img, cut).save(part, "TIFF", compression="group4", dpi=res)
            else:
                img.convert("L").save(part, "JPEG", quality=JPEG_QUALITY, dpi=res,
                                      optimize=True)
            parts.append(part.getvalue())
        return img2pdf.convert(parts, engine=img2pdf.Engine.internal,
                               creationdate=scanned, moddate=scanned,
                               producer="img2pdf", creator="Borsetshire scan station 3")
    else:
        raise ValueError(fmt)
    return buf.getvalue()


# ---------------------------------------------------------------------------------------------
# Planning and main
# ---------------------------------------------------------------------------------------------


@dataclass
class Planned:
    """One document: its content, output format and per-page degradations."""

    index: int
    template: str
    doc: Doc
    pages: list[Page]
    fmt: str = ""
    encoding: str = ""
    degradations: list[dict[str, Any]] = field(default_factory=list)


def choose_house(rng: random.Random) -> House:
    """A random house style for a document."""
    body = rng.choice(["sans", "serif", "sans"])
    return House(body=body, head=rng.choice([body, "sans"]),
                 fill=rng.choice(["mono", "sans"]),
                 body_pt=rng.choice([10.0, 10.5, 11.0, 11.0, 11.5, 12.0]),
                 spacing=rng.choice([1.28, 1.32, 1.38]),
                 margin_mm=rng.choice([20.0, 22.0, 25.0]),
                 accent=rng.choice(ACCENTS[:3]))


def select_templates(patterns: str | None) -> dict[str, list[str]]:
    """Templates grouped by record type, in round-robin order, filtered by glob patterns."""
    wanted = [p.strip() for p in (patterns or "*").split(",") if p.strip()]
    chosen = [t for t in TEMPLATES if any(fnmatch.fnmatchcase(t, p) for p in wanted)]
    if not chosen:
        raise SystemExit(f"no template matches {patterns!r}; try --list-templates")
    grouped: dict[str, list[str]] = {}
    for kind in TYPE_ORDER:
        names = [t for t in chosen if t.split("/")[0] == kind]
        if names:
            grouped[kind] = names
    return grouped


def plan(count: int, seed: int, patterns: str | None, rough: float = 0.0,
         damage: Sequence[str] = ROUGH_DAMAGE) -> list[Planned]:
    """Decide every document's template, content, format and degradations.

    ``rough`` is the share of pages (0-1) given heavy damage on top of the ordinary wear,
    drawn from the kinds in ``damage``.
    """
    grouped = select_templates(patterns)
    kinds = list(grouped)
    planned: list[Planned] = []
    single_at, multi_at = seed % len(SINGLE_CYCLE), seed % len(MULTI_CYCLE)
    for i in range(count):
        position, visit = i % len(kinds), i // len(kinds)
        names = grouped[kinds[position]]
        template = names[(position + visit + seed) % len(names)]
        rng = random.Random(f"s4-samples/{seed}/{i}/content")
        doc = Doc(rng, choose_house(rng))
        pages = TEMPLATES[template](doc)
        item = Planned(i, template, doc, pages)
        if len(pages) > 1:
            item.fmt, item.encoding = MULTI_CYCLE[multi_at % len(MULTI_CYCLE)]
            multi_at += 1
        else:
            item.fmt, item.encoding = SINGLE_CYCLE[single_at % len(SINGLE_CYCLE)]
            single_at += 1
        drng = random.Random(f"s4-samples/{seed}/{i}/degrade")
        item.degradations = [plan_degradations(drng, item.encoding) for _ in pages]
        planned.append(item)
    ensure_rotations(planned, random.Random(f"s4-samples/{seed}/rotations"))
    if rough > 0:
        for item in planned:
            rrng = random.Random(f"s4-samples/{seed}/{item.index}/rough")
            for deg in item.degradations:
                if rrng.random() < rough:
                    deg["rough"] = plan_rough(rrng, damage)
                    deg["rotation"] = deg["rough"]["rotation"]
    return planned


def ensure_rotations(planned: list[Planned], rng: random.Random) -> None:
    """Make sure a set of six or more documents has a page turned 90° and one turned 180°."""
    pages = [d for p in planned for d in p.degradations]
    if len(planned) < 6:
        return
    for angle in (180, 90):
        if not any(d["rotation"] == angle for d in pages):
            upright = [d for d in pages if d["rotation"] == 0]
            if upright:
                rng.choice(upright)["rotation"] = angle


# The manifest's words for the levels. Without rough pages the text stays as it was before the
# old-file damage kinds were added, so ``--rough 0`` output is byte-identical to earlier runs.
LEVEL_CONVENTION_NO_ROUGH = (
    "per page: clean (skew and paper tone only), office (ordinary wear: faint ink, blur, "
    "speckle, JPEG, shadows, folds) or rough (photocopier streaks, heavy speckle, broken "
    "strokes, heavy JPEG, fax, carbon blur)")
LEVEL_CONVENTION = (
    "per page: clean (skew and paper tone only), office (ordinary wear: faint ink, blur, "
    "speckle, JPEG, shadows, folds) or rough (two to four heavy kinds of damage, listed in "
    "rough_damage: " + ", ".join(ROUGH_DAMAGE) + ")")
ROUGH_CONVENTIONS = {
    "rough_params": "per rough page, the parameters of its damage: streaks [position 0-1 "
                    "across, width px at 300 dpi, grey level]; speckle_dots; ink (broken "
                    "strokes, share of full ink); jpeg_q; fax_noise; blur_px (carbon); "
                    "show_through {template and content_seed of the back page, ink 0-1, "
                    "blur_px, offset_mm}; stain {blots [x, y as page fractions, radius_mm, "
                    "interior and rim: grey levels darker than the paper], gradient {kind: "
                    "yellowed_edges or the lid-shadow side, depth in grey levels, reach as a "
                    "page fraction}}; faded {ink and paper grey levels, bilevel_threshold "
                    "used when the page is stored as CCITT G4}",
}


def clean_output(out: Path) -> None:
    """Remove files from a previous run (only names this script writes)."""
    for path in sorted(out.glob("scan_*")):
        if path.suffix in (".pdf", ".tif", ".jpg", ".png", ".txt") and path.is_file():
            path.unlink()
    manifest = out / "manifest.json"
    if manifest.exists():
        manifest.unlink()


def render_back(renderer: Renderer, spec: dict[str, Any]) -> Image.Image:
    """The page printed on the reverse side of a show-through page (upright, not mirrored)."""
    rng = random.Random(f"s4-samples/back/{spec['content_seed']}")
    doc = Doc(rng, choose_house(rng))
    image, _ = renderer.render(TEMPLATES[spec["template"]](doc)[0])
    return image


def generate(out: Path, count: int, seed: int, dpi: int, patterns: str | None,
             font_mode: str, quiet: bool = False, rough: float = 0.0,
             damage: Sequence[str] = ROUGH_DAMAGE) -> dict[str, Any]:
    """Write ``count`` documents, their ground truth and the manifest into ``out``."""
    fonts = FontBook(font_mode)
    renderer = Renderer(fonts, dpi)
    out.mkdir(parents=True, exist_ok=True)
    clean_output(out)
    documents = []
    for item in plan(count, seed, patterns, rough, damage):
        name = f"scan_{item.index + 1:04d}"
        colour = item.encoding.endswith("colour")
        images, texts, page_info, thresholds = [], [], [], []
        for number, (page, deg) in enumerate(zip(item.pages, item.degradations, strict=True),
                                             1):
            upright, lines = renderer.render(page)
            damage_done = deg["rough"] if deg.get("rough") else {}
            back = (render_back(renderer, damage_done["show_through"])
                    if "show_through" in damage_done else None)
            img = degrade(upright, deg, dpi, colour, back)
            images.append(img)
            thresholds.append(damage_done.get("faded", {}).get("bilevel_threshold", 165))
            texts.append("\n".join(lines))
            info = {k: v for k, v in deg.items() if k not in ("noise_seed", "paper", "rough")}
            info["level"] = page_level(deg)
            if deg.get("rough"):
                info["rough_damage"] = deg["rough"]["damage"]
                info["rough_params"] = rough_params(deg["rough"])
            info["paper_tone"] = list(deg["paper"]) if colour else deg["paper"][0]
            page_info.append({"page": number, "width_px": img.width, "height_px": img.height,
                              "words": sum(len(line.split()) for line in lines), **info})
        scanned = dt.datetime(2025, 3, 3, 9, 0) + dt.timedelta(minutes=7 * item.index)
        data = encode(images, item.fmt, item.encoding, dpi, scanned, thresholds)
        file_name = name + EXTENSIONS[item.fmt]
        (out / file_name).write_bytes(data)
        (out / f"{name}.gt.txt").write_text("\f".join(texts) + "\n", encoding="utf-8")
        doc = item.doc
        documents.append({
            "file": file_name,
            "ground_truth": f"{name}.gt.txt",
            "record_type": item.template.split("/")[0],
            "template": item.template,
            "title": doc.title,
            "pages": len(item.pages),
            "format": item.fmt,
            "encoding": item.encoding,
            "dpi": dpi,
            "date": doc.date.isoformat() if doc.date else None,
            "references": doc.references,
            "people": doc.people,
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "page_details": page_info,
        })
        if not quiet:
            print(f"{file_name:15} {item.template:42} {len(item.pages)}p "
                  f"{item.encoding:11} {len(data) / 1024:7.0f} KiB", file=sys.stderr)
    manifest = {
        "generator": "samples/make_samples.py",
        "generator_version": GENERATOR_VERSION,
        "seed": seed,
        "count": count,
        "dpi": dpi,
        "templates": patterns or "*",
        "rough": rough,
        **({"rough_kinds": list(damage)} if rough else {}),
        "fonts": sorted(fonts.used),
        "conventions": {
            "rotation": "degrees the page content is turned counter-clockwise in the stored "
                        "image (PIL Image.rotate convention); to make it upright rotate it by "
                        "the same amount clockwise",
            "skew_deg": "small rotation of the content as seen in the stored image; positive "
                        "is counter-clockwise (applied before 'rotation', which commutes)",
            "edge_shadow": "side of the upright page darkened by a scanner-lid shadow",
            "ground_truth": "UTF-8 text, one printed line per line, pages separated by a form "
                            "feed (\\f), words separated by single spaces",
            "date": "ISO 8601 date of the document, or null when it has none",
            "level": LEVEL_CONVENTION if rough else LEVEL_CONVENTION_NO_ROUGH,
            "fiction": "all names, addresses, organisations and references are fictional",
            **(ROUGH_CONVENTIONS if rough else {}),
        },
        "documents": documents,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2, ensure_ascii=False) + "\n",
                                       encoding="utf-8")
    return manifest


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    here = Path(__file__).resolve().parent
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=here / "scans",
                        help="output folder (default: scans/ next to this script); previous "
                             "scan_* files and manifest.json in it are replaced")
    parser.add_argument("--count", type=int, default=12, help="number of documents (12)")
    parser.add_argument("--seed", type=int, default=4, help="random seed (4)")
    parser.add_argument("--dpi", type=int, default=300, help="scan resolution (300)")
    parser.add_argument("--templates", default=None,
                        help="comma-separated glob patterns of template ids to use, e.g. "
                             "'council-tax/*,junk/blank-page' (default: all)")
    parser.add_argument("--fonts", choices=["portable", "system"], default="portable",
                        help="'portable' uses only fonts-dejavu-core (reproducible anywhere); "
                             "'system' prefers URW/Liberation fonts when installed")
    parser.add_argument("--rough", type=float, default=0.0,
                        help="share of pages (0-1) given heavy damage, two to four kinds each: "
                             "streaks, speckle, broken strokes, heavy JPEG, fax, carbon blur, "
                             "show-through, stain, faded (0; other pages unchanged)")
    parser.add_argument("--damage", default=",".join(ROUGH_DAMAGE),
                        help="comma-separated kinds rough pages draw from (default: all of "
                             + ", ".join(ROUGH_DAMAGE) + ")")
    parser.add_argument("--list-templates", action="store_true",
                        help="print the template ids and exit")
    parser.add_argument("--quiet", action="store_true", help="do not list files as written")
    args = parser.parse_args(argv)
    if args.count < 1 or not 72 <= args.dpi <= 1200:
        parser.error("--count must be positive and --dpi between 72 and 1200")
    if not 0 <= args.rough <= 1:
        parser.error("--rough must be between 0 and 1")
    args.damage = tuple(k.strip() for k in args.damage.split(",") if k.strip())
    unknown = sorted(set(args.damage) - set(ROUGH_DAMAGE))
    if unknown or not args.damage:
        parser.error(f"--damage: unknown kind(s) {', '.join(unknown) or '(none given)'}; "
                     f"choose from {', '.join(ROUGH_DAMAGE)}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point."""
    args = parse_args(argv)
    if args.list_templates:
        for template, func in TEMPLATES.items():
            print(f"{template:42} {(func.__doc__ or '').strip()}")
        return 0
    manifest = generate(args.out, args.count, args.seed, args.dpi, args.templates, args.fonts,
                        args.quiet, args.rough, args.damage)
    total = sum(d["bytes"] for d in manifest["documents"])
    pages = sum(d["pages"] for d in manifest["documents"])
    if not args.quiet:
        print(f"{len(manifest['documents'])} documents, {pages} pages, "
              f"{total / 1024 / 1024:.1f} MiB in {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
