"""The application object: one configuration's services, built once and handed around.

The pipeline, the sweeps, the survey pages, the monthly report and the command line all
take a ``Desk``; none builds a service of its own. The store's hooks (a state change or a
new priority moves the service-level clocks) are wired here, in plain sight, and nowhere
else. A reload builds a new ``Desk`` from the new configuration.
"""

from __future__ import annotations

from maildesk.agents.actions import Actions
from maildesk.agents.intake import Intake
from maildesk.agents.notices import Notices
from maildesk.config import Config
from maildesk.outbox.mailer import Mailer
from maildesk.privacy.anonymity import Sealer
from maildesk.privacy.masking import Masking
from maildesk.sla.deadlines import Deadlines
from maildesk.store.store import Store
from maildesk.surveys.service import Surveyor
from maildesk.templates import Templates


class Desk:
    """Everything that acts on tickets, for one configuration and one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        templates: Templates,
        secret: bytes,
        sealer: Sealer | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.templates = templates
        self.secret = secret
        self.sealer = sealer
        self.mailer = Mailer(config, store, templates, secret)
        self.deadlines = Deadlines(config, store)
        # Every state change, wherever it is made, stops, pauses or restarts the clocks.
        store.on_state_change = self.deadlines.state_changed
        store.on_reclassify = self.deadlines.reclassified
        self.notices = Notices(config, store, templates, self.mailer)
        self.surveyor = Surveyor(config, store, self.mailer, self.deadlines, self.notices)
        self.actions = Actions(self.notices, on_closed=self.surveyor.offer)
        self.intake = Intake(config, store, self.actions)
        self.masking = Masking(config, store, sealer, config.is_own)
