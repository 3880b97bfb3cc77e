"""Keys per group of objects (a case file is one group), for crypto-shredding.

The key-encryption key wraps each group's key; the group's key wraps the data key of each of the
group's objects. Destroying the group's key makes every object of the group unreadable, in the
store and in every backup of the object rows, because no remaining key unwraps their data keys.
Storage knows nothing of case files: a group is an id its caller chooses.
"""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.db import Base, UTCDateTime, utcnow


class GroupKey(Base):
    __tablename__ = "group_keys"

    group_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)  # by the KEK (RFC 3394)
    kek_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
