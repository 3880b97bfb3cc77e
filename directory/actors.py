"""Who is acting: every domain operation takes an Actor and scopes what it reads to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from directory.models import Account, ApiClient, Role


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
    client_id: uuid.UUID | None = None  # set for a specialist application calling the API

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
    def for_api_client(cls, client: ApiClient) -> Actor:
        return cls(
            account_id=None,
            role=Role.API_CLIENT,
            display_name=client.name,
            authority_id=client.authority_id,
            authority_name=client.authority.name,
            client_id=client.id,
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

    @property
    def ref(self) -> str | None:
        """The id the journal keeps for this actor: an account's or an API client's."""
        return str(self.account_id or self.client_id or "") or None

    def require_authority(self) -> None:
        """A clerk or a specialist application acting for one authority."""
        if self.role not in (Role.CLERK, Role.API_CLIENT) or self.authority_id is None:
            raise AccessDenied("this needs a clerk or an API client of an authority")

    def require(self, *roles: Role) -> None:
        if self.role not in roles:
            raise AccessDenied(f"this needs the role {' or '.join(r.value for r in roles)}")
