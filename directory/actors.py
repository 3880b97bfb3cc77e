"""Who is acting: every domain operation takes an Actor and scopes what it reads to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from directory.models import Account, Role


class AccessDenied(Exception):
    """The actor may not see or do this; views answer 404 or 403, never leak existence."""


@dataclass(frozen=True)
class Actor:
    account_id: uuid.UUID | None
    role: Role | None
    display_name: str
    party_id: uuid.UUID | None = None
    authority_id: uuid.UUID | None = None
    authority_name: str | None = None

    @classmethod
    def for_account(cls, account: Account) -> Actor:
        return cls(
            account_id=account.id,
            role=account.role,
            display_name=account.display_name,
            party_id=account.party_id,
            authority_id=account.authority_id,
            authority_name=account.authority.name if account.authority else None,
        )

    @classmethod
    def system(cls, name: str = "Einwohnerportal") -> Actor:
        """The portal itself (sweeps, receipts); it has no account."""
        return cls(account_id=None, role=None, display_name=name)

    @property
    def label(self) -> str:
        """How the journal names this actor: a person, or a clerk with their office."""
        if self.authority_name:
            return f"{self.display_name} ({self.authority_name})"
        return self.display_name

    @property
    def kind(self) -> str:
        return self.role.value if self.role else "system"

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise AccessDenied(f"this needs the role {' or '.join(r.value for r in roles)}")
