"""Every mapped model, imported once so that the metadata is complete (migrations, tests)."""

from casefiles import anchors as casefiles_anchors
from casefiles import archive_models as casefiles_archive
from casefiles import models as casefiles_models
from catalogue import models as catalogue_models
from directory import models as directory_models
from mailbox import models as mailbox_models
from storage import blobs, group_keys, outbox
from storage.db import Base

__all__ = [
    "Base",
    "blobs",
    "casefiles_anchors",
    "casefiles_archive",
    "casefiles_models",
    "catalogue_models",
    "directory_models",
    "group_keys",
    "mailbox_models",
    "outbox",
]
