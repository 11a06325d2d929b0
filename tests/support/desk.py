"""The desk and the pipeline as the tests build them: one way, the daemon's way."""

from __future__ import annotations

from maildesk.clock import Clock
from maildesk.config import Config
from maildesk.desk import Desk
from maildesk.ingest.pipeline import Pipeline
from maildesk.privacy.anonymity import Sealer
from maildesk.store.store import Store
from maildesk.templates import Templates

# The signing secret of every test desk; tests that sign Message-IDs or survey tokens
# themselves use it too.
SECRET = b"maildesk-test-secret-0123456789ab"


def build_desk(
    config: Config,
    store: Store,
    *,
    secret: bytes = SECRET,
    sealer: Sealer | None = None,
    templates: Templates | None = None,
) -> Desk:
    """The application object for ``config`` over ``store``, as ``maildesk run`` builds it."""
    templates = templates or Templates(config.templates_dir, "es")
    return Desk(config, store, templates, secret, sealer)


def build_pipeline(
    config: Config,
    store: Store,
    clock: Clock,
    *,
    secret: bytes = SECRET,
    sealer: Sealer | None = None,
    templates: Templates | None = None,
) -> Pipeline:
    """The daemon's pipeline over a new desk."""
    desk = build_desk(config, store, secret=secret, sealer=sealer, templates=templates)
    return Pipeline(desk, clock)
