"""Background work of the case files. Each job is idempotent."""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from casefiles.anchors import anchor_heads
from casefiles.journal import keyring_of

log = logging.getLogger(__name__)


def anchor(session: Session) -> None:
    """The periodic anchor of every case file's head (casefiles/anchors.py).

    A refusal (AnchorRefused: a journal lost its end, a case file is gone) fails the job, so
    that it is in the log at every turn until someone looks: `portal verify` names it."""
    tsa = keyring_of(session).tsa
    if tsa is None:
        log.warning("no anchor: no time-stamping authority (see the warning at start-up)")
        return
    anchor_heads(session, tsa)
