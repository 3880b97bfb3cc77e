"""Communes, the authorities responsible per task, and residents' addresses.

`import_communes` reads the table that `portal communes import FILE.csv` is given: one row per
commune and task naming the responsible authority (a regional office appears in the rows of
every commune it serves), plus rows without commune that only declare an authority (a fixed
cantonal or federal office). The import adds and updates, never deletes: a file may cover one
commune only. Every row is checked before anything is written, so a bad file changes nothing.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from importlib import resources

from sqlalchemy import select
from sqlalchemy.orm import Session

from directory.errors import InvalidInput
from directory.models import Authority, AuthorityLevel, Commune, Party, Responsibility

REQUIRED_COLUMNS = (
    "canton",
    "bfs",
    "commune",
    "task",
    "authority_slug",
    "authority_name",
    "authority_level",
)
# What a QR-bill needs of an authority, and where notices go; empty cells leave values as they are.
OPTIONAL_COLUMNS = (
    "authority_email",
    "authority_street",
    "authority_postcode",
    "authority_town",
    "authority_qr_iban",
)
# fmt: off
CANTONS = frozenset((
    "AG", "AI", "AR", "BE", "BL", "BS", "FR", "GE", "GL", "GR", "JU", "LU", "NE",
    "NW", "OW", "SG", "SH", "SO", "SZ", "TG", "TI", "UR", "VD", "VS", "ZG", "ZH",
))
# fmt: on
SLUG = re.compile(r"^[a-z][a-z0-9-]{1,62}$")  # as catalogue/schema/service.schema.json
POSTCODE = re.compile(r"^[1-9][0-9]{3}$")
MAX_ROWS = 20_000  # Switzerland has about 2,100 communes; a bigger file is a mistake


class CommuneFileError(InvalidInput):
    """A communes file that cannot be imported; `problems` has one line per fault."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("file", "\n".join(problems))
        self.problems = problems


@dataclass
class ImportCounts:
    """How many rows of each kind the import created and changed (unchanged: not counted)."""

    communes_created: int = 0
    communes_changed: int = 0
    authorities_created: int = 0
    authorities_changed: int = 0
    responsibilities_created: int = 0
    responsibilities_changed: int = 0

    def summary(self) -> str:
        return (
            f"communes: {self.communes_created} new, {self.communes_changed} changed; "
            f"authorities: {self.authorities_created} new, {self.authorities_changed} changed; "
            f"responsibilities: {self.responsibilities_created} new, "
            f"{self.responsibilities_changed} changed"
        )


@dataclass
class _Office:
    slug: str
    name: str
    level: AuthorityLevel
    extra: dict[str, str] = field(default_factory=dict)  # column (without "authority_") -> value
    line: int = 0


@dataclass
class CommuneTable:
    communes: dict[int, tuple[str, str]] = field(default_factory=dict)  # bfs -> (name, canton)
    offices: dict[str, _Office] = field(default_factory=dict)
    responsibilities: dict[tuple[int, str], str] = field(default_factory=dict)  # -> slug


def parse_communes_file(text: str) -> CommuneTable:
    """Check a communes file (comma or semicolon separated, `#` comment lines) completely."""
    lines = text.lstrip("\ufeff").splitlines()
    numbered = [(n, line) for n, line in enumerate(lines, 1) if not line.lstrip().startswith("#")]
    numbered = [(n, line) for n, line in numbered if line.strip()]
    if not numbered:
        raise CommuneFileError(["the file is empty: a header line is needed"])
    if len(numbered) > MAX_ROWS:
        raise CommuneFileError([f"the file has more than {MAX_ROWS} rows"])
    header_line, header = numbered[0]
    delimiter = ";" if header.count(";") > header.count(",") else ","
    # Line by line, so that every fault names the line it is on (a cell spanning lines is one).
    rows: list[tuple[int, list[str]]] = []
    problems: list[str] = []
    for line, raw in numbered:
        try:
            rows.append((line, next(csv.reader([raw], delimiter=delimiter, strict=True))))
        except csv.Error as error:
            problems.append(f"line {line}: not readable as CSV ({error})")
    if not rows or rows[0][0] != header_line:
        raise CommuneFileError(problems)  # the header line itself is unreadable
    columns = [c.strip().lower() for c in rows[0][1]]
    header_problems = _check_header(header_line, columns)
    if header_problems:
        raise CommuneFileError(header_problems)
    table = CommuneTable()
    for line, cells in rows[1:]:
        if len(cells) != len(columns):
            problems.append(f"line {line}: {len(cells)} cells, the header has {len(columns)}")
            continue
        row = {c: v.strip() for c, v in zip(columns, cells, strict=True)}
        problems.extend(f"line {line}: {p}" for p in _add_row(table, row, line))
    if not problems and len(numbered) == 1:
        problems.append("the file has a header but no rows")
    if problems:
        raise CommuneFileError(problems)
    return table


def _check_header(line: int, columns: list[str]) -> list[str]:
    problems = []
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        problems.append(f"line {line}: the header lacks the column(s) {', '.join(missing)}")
    unknown = [c for c in columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    if unknown:
        problems.append(f"line {line}: unknown column(s) {', '.join(unknown)}")
    if len(set(columns)) != len(columns):
        problems.append(f"line {line}: a column is named twice")
    return problems


def _add_row(table: CommuneTable, row: dict[str, str], line: int) -> list[str]:
    problems: list[str] = []
    office = _office(row, line, problems)
    bfs_text, commune, task, canton = row["bfs"], row["commune"], row["task"], row["canton"]
    if not (bfs_text or commune or task):
        pass  # an authority alone: a fixed office that no commune table names
    elif not (bfs_text and commune and task):
        problems.append("bfs, commune and task are given together, or all three left empty")
    else:
        bfs = _bfs(bfs_text, problems)
        if canton not in CANTONS:
            problems.append(f"canton {canton!r} is not a Swiss canton's abbreviation (e.g. LU)")
        if len(commune) > 100:
            problems.append("the commune's name is longer than 100 characters")
        if not SLUG.match(task):
            problems.append(f"task {task!r} is not a slug (lower-case letters, digits, -)")
        if bfs is not None and not problems:
            known = table.communes.setdefault(bfs, (commune, canton))
            if known != (commune, canton):
                problems.append(
                    f"BFS number {bfs} is {known[0]} ({known[1]}) in an earlier line, "
                    f"here {commune} ({canton})"
                )
            elif (bfs, task) in table.responsibilities:
                problems.append(f"task {task!r} of {commune} is given twice")
            elif office is not None:
                table.responsibilities[(bfs, task)] = office.slug
    if office is not None and not problems:
        problems.extend(_merge_office(table, office))
    return problems


def _bfs(text: str, problems: list[str]) -> int | None:
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= 9999:  # not "²"
        problems.append(f"BFS number {text!r} is not a number from 1 to 9999")
        return None
    return int(text)


def _office(row: dict[str, str], line: int, problems: list[str]) -> _Office | None:
    slug, name, level = row["authority_slug"], row["authority_name"], row["authority_level"]
    before = len(problems)
    if not SLUG.match(slug):
        problems.append(f"authority_slug {slug!r} is not a slug (lower-case letters, digits, -)")
    if not name or len(name) > 200:
        problems.append("authority_name is empty or longer than 200 characters")
    if level not in {m.value for m in AuthorityLevel}:
        allowed = ", ".join(m.value for m in AuthorityLevel)
        problems.append(f"authority_level {level!r} is not one of {allowed}")
    extra = {c.removeprefix("authority_"): row[c] for c in OPTIONAL_COLUMNS if row.get(c)}
    problems.extend(_check_extra(extra))
    if len(problems) > before:
        return None
    return _Office(slug, name, AuthorityLevel(level), extra, line)


def _check_extra(extra: dict[str, str]) -> list[str]:
    problems = []
    if "qr_iban" in extra:
        extra["qr_iban"] = extra["qr_iban"].replace(" ", "").upper()
        if not is_qr_iban(extra["qr_iban"]):
            problems.append(f"authority_qr_iban {extra['qr_iban']!r} is not a valid QR-IBAN")
    if "postcode" in extra and not POSTCODE.match(extra["postcode"]):
        problems.append(f"authority_postcode {extra['postcode']!r} is not a Swiss postcode")
    for column, limit in (("street", 200), ("town", 100), ("email", 254)):
        if len(extra.get(column, "")) > limit:
            problems.append(f"authority_{column} is longer than {limit} characters")
    if "email" in extra and "@" not in extra["email"]:
        problems.append(f"authority_email {extra['email']!r} is not an e-mail address")
    return problems


def _merge_office(table: CommuneTable, office: _Office) -> list[str]:
    known = table.offices.setdefault(office.slug, office)
    if known is office:
        return []
    problems = []
    if (known.name, known.level) != (office.name, office.level):
        problems.append(
            f"authority {office.slug} is {known.name!r} ({known.level}) in line {known.line}, "
            f"here {office.name!r} ({office.level})"
        )
    for column, value in office.extra.items():
        if known.extra.setdefault(column, value) != value:
            problems.append(
                f"authority {office.slug} has another authority_{column} in line {known.line}"
            )
    return problems


def is_qr_iban(iban: str) -> bool:
    """A Swiss or Liechtenstein QR-IBAN: 21 characters, check digits right, IID 30000-31999."""
    if not re.fullmatch(r"(CH|LI)[0-9]{7}[0-9A-Z]{12}", iban):
        return False
    if not 30000 <= int(iban[4:9]) <= 31999:
        return False
    digits = "".join(str(int(c, 36)) for c in iban[4:] + iban[:4])
    return int(digits) % 97 == 1


def import_communes(session: Session, text: str) -> ImportCounts:
    """Create or update the communes, authorities and responsibilities of a communes file."""
    table = parse_communes_file(text)
    counts = ImportCounts()
    for bfs, (name, canton) in sorted(table.communes.items()):
        commune = session.get(Commune, bfs)
        if commune is None:
            session.add(Commune(bfs=bfs, name=name, canton=canton))
            counts.communes_created += 1
        elif (commune.name, commune.canton) != (name, canton):
            commune.name, commune.canton = name, canton
            counts.communes_changed += 1
    authorities: dict[str, Authority] = {}
    for slug, office in table.offices.items():
        authority = session.scalar(select(Authority).where(Authority.slug == slug))
        if authority is None:
            authority = Authority(slug=slug, name=office.name, level=office.level)
            session.add(authority)
            counts.authorities_created += 1
            _update_authority(authority, office)
        elif _update_authority(authority, office):
            counts.authorities_changed += 1
        authorities[slug] = authority
    session.flush()
    for (bfs, task), slug in sorted(table.responsibilities.items()):
        authority_id = authorities[slug].id
        current = session.scalar(
            select(Responsibility).where(Responsibility.bfs == bfs, Responsibility.task == task)
        )
        if current is None:
            session.add(Responsibility(bfs=bfs, task=task, authority_id=authority_id))
            counts.responsibilities_created += 1
        elif current.authority_id != authority_id:
            current.authority_id = authority_id
            counts.responsibilities_changed += 1
    session.flush()
    return counts


def _update_authority(authority: Authority, office: _Office) -> bool:
    wanted = {"name": office.name, "level": office.level, **office.extra}
    changed = False
    for attribute, value in wanted.items():
        if getattr(authority, attribute) != value:
            setattr(authority, attribute, value)
            changed = True
    return changed


def set_address(
    session: Session, party: Party, *, street: str, postcode: str, town: str, bfs: int
) -> Party:
    """Record a party's address and the commune it lies in (the commune decides routing)."""
    street, postcode, town = street.strip(), postcode.strip(), town.strip()
    if not street or len(street) > 200:
        raise InvalidInput("street", "Please enter the street and house number.")
    if not POSTCODE.match(postcode):
        raise InvalidInput("postcode", "Please enter a Swiss postcode of four digits.")
    if not town or len(town) > 100:
        raise InvalidInput("town", "Please enter the town.")
    if session.get(Commune, bfs) is None:
        raise InvalidInput("bfs", "This commune is not known to the portal.")
    party.street, party.postcode, party.town, party.bfs = street, postcode, town, bfs
    session.flush()
    return party


def demo_table() -> str:
    """The demo's communes file, shipped as package data (directory/data/communes-lu.csv)."""
    return (resources.files("directory") / "data" / "communes-lu.csv").read_text("utf-8")
