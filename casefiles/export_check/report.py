"""What a check of an export found: items that hold or fail, and notes that are neither."""

from __future__ import annotations

from dataclasses import dataclass, field

_SHOWN = 8  # problems listed per item; the rest are counted


@dataclass(frozen=True)
class Item:
    name: str
    ok: bool
    message: str


@dataclass
class ExportReport:
    packaging: str
    cases: list[str] = field(default_factory=list)  # the case files' references
    items: list[Item] = field(default_factory=list)
    ca_fingerprint: str | None = None  # SHA-256 of the package's CA certificate (DER), hex
    trust_pinned: bool = False  # the CA was given (--ca) and is the package's
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(item.ok for item in self.items)

    @property
    def failures(self) -> list[Item]:
        return [item for item in self.items if not item.ok]

    def add(self, name: str, problems: list[str], ok_message: str) -> None:
        """One item: ok with `ok_message`, or failed with its problems."""
        if not problems:
            self.items.append(Item(name, True, ok_message))
            return
        shown = "; ".join(problems[:_SHOWN])
        more = f"; and {len(problems) - _SHOWN} more" if len(problems) > _SHOWN else ""
        self.items.append(Item(name, False, shown + more))
