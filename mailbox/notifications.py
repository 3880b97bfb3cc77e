"""E-mail notices that a delivery is waiting: never its content or subject."""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session


def send_delivery_notice(session: Session, delivery_id: uuid.UUID) -> None:
    """Placeholder until the SMTP notice lands: does nothing, so nothing is marked sent."""
