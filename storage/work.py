"""A session's unit of work: the services an operation uses, and what its transaction did
outside the database (objects stored, jobs asked for), which a rollback must undo.

The sessionmaker carries the runtime's `Services` (`storage.db.make_sessionmaker`); each
session gets its own `UnitOfWork` on first use. Operations reach both through the typed
accessors here, never by a string key: `services_of(session).objects`,
`unit_of(session).stored_keys`. Storage knows nothing of the domain, so the keyring and the
settings are carried as they come; the domain packages' accessors
(`casefiles.journal.keyring_of`, `mailbox.notifications.mail_settings`) check their type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from storage.encryption import EncryptedObjects
from storage.objects import discard

if TYPE_CHECKING:
    from storage.jobs import Outbox, RecordedJob

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Services:
    """What the runtime gives every session: the encrypted object store, the portal's keyring
    (signing.Keyring) and the settings that notices need (mailbox.notifications.MailSettings)."""

    objects: EncryptedObjects
    keyring: object
    settings: object


@dataclass(frozen=True, slots=True)
class Mark:
    """How far a unit of work had come: where a savepoint starts."""

    stored: int
    jobs: int
    doomed: int = 0


def _new_outbox() -> Outbox:
    # Imported here: storage.jobs finds a session's outbox through `unit_of` in this module.
    from storage.jobs import Outbox

    return Outbox()


@dataclass(frozen=True, slots=True)
class UnitOfWork:
    """One session's work: its services (None for a session the runtime did not make), the
    keys of the objects its transaction stored, the jobs it asked for, the objects to delete
    once it has committed (a destroyed case file's), and the group keys it unwrapped
    (storage.group_keys; never logged, gone with the session)."""

    services: Services | None
    stored_keys: list[str] = field(default_factory=list)
    jobs: Outbox = field(default_factory=_new_outbox)
    doomed_keys: list[str] = field(default_factory=list)
    group_keys: dict[Any, Any] = field(default_factory=dict, repr=False)

    def mark(self) -> Mark:
        return Mark(len(self.stored_keys), self.jobs.mark(), len(self.doomed_keys))

    def undo(self, since: Mark | None = None, *, remove_objects: bool = True) -> None:
        """Forget what the work since `since` (None: the whole transaction) did outside the
        database, its rows being rolled back: its jobs are dropped, its objects removed. With
        `remove_objects=False` (a commit whose outcome is unknown) the objects stay for
        `portal storage gc`, which removes them only if no row names them."""
        start = since.stored if since is not None else 0
        orphans = self.stored_keys[start:]
        del self.stored_keys[start:]
        # Rows rolled back: their objects stay, and a group key made meanwhile may be gone.
        del self.doomed_keys[since.doomed if since is not None else 0 :]
        self.group_keys.clear()
        if since is None:
            self.jobs.clear()
        else:
            self.jobs.drop_since(since.jobs)
        if not orphans:
            return
        if not remove_objects:
            log.warning(
                "commit outcome unknown: %d object(s) left for `portal storage gc`", len(orphans)
            )
        elif self.services is not None:  # always: objects are stored through the services
            discard(self.services.objects, orphans)

    def committed(self) -> list[RecordedJob]:
        """After a commit: its objects belong to saved rows now, the objects it doomed are
        deleted (their rows are gone for good); the jobs it wrote to the outbox, to hand on
        (each once)."""
        self.stored_keys.clear()
        self.group_keys.clear()  # per transaction: another may destroy a group meanwhile
        doomed, self.doomed_keys[:] = list(self.doomed_keys), []
        if doomed and self.services is not None:
            _delete_all(self.services.objects, doomed)
        return self.jobs.take_committed()


def _delete_all(objects: EncryptedObjects, keys: list[str]) -> None:
    # Each one tried: what a store refuses now has no row left, so `portal storage gc` takes it
    # after its grace period (and its data key is unreadable already: its group key is gone).
    failed = 0
    for key in keys:
        try:
            objects.delete(key)
        except OSError as exc:
            failed += 1
            log.warning("could not delete object %s now, left to `portal storage gc`: %s", key, exc)
    if failed:
        log.warning("%d of %d object(s) left to `portal storage gc`", failed, len(keys))


def unit_of(session: Session) -> UnitOfWork:
    """This session's unit of work, started on first use."""
    # The classes are the keys: nothing else in the portal writes `Session.info`, and nothing
    # reads it but this function. The sessionmaker's `Services` are shared by its sessions;
    # a `UnitOfWork` is this session's own.
    info: dict[Any, Any] = session.info
    work = info.get(UnitOfWork)
    if isinstance(work, UnitOfWork):
        return work
    services = info.get(Services)
    if services is not None and not isinstance(services, Services):
        raise TypeError(f"the session carries {type(services).__name__}, not Services")
    work = info[UnitOfWork] = UnitOfWork(services)
    return work


def services_of(session: Session) -> Services:
    """The runtime's services that this session carries."""
    services = unit_of(session).services
    if services is None:
        raise LookupError("the session carries no services: make it with the runtime's sessions")
    return services
