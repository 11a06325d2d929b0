"""One message on its way through the pipeline, as plain data.

Plain data: a frozen dataclass that the pipeline fills in step by step.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from maildesk.agents.intake import AgentCheck
from maildesk.config import QueueConfig
from maildesk.ingest.envelope import Envelope
from maildesk.mail.classify import Classification
from maildesk.mail.parsed import Address, ParsedMail
from maildesk.mail.thread import ThreadChoice
from maildesk.privacy.masking import Masked


@dataclass(frozen=True)
class Arrival:
    """One message on its way through the pipeline: what came in and what was decided.

    Built step by step (``replace``) as the pipeline learns more; the steps that store it
    read it whole instead of a dozen parameters.
    """

    raw: bytes  # as received
    envelope: Envelope  # its sender a pseudonym once kept, in anonymous queues
    mail: ParsedMail  # masked in anonymous queues
    sender: Address  # the pseudonym in anonymous queues
    kind: Classification
    key: str  # dedupe key: Message-ID plus a content hash
    now: datetime
    queue: QueueConfig  # where it was written (a ticket it joins may be of another)
    queue_address: str  # the address of ours it was written to
    masked: Masked | None = None
    choice: ThreadChoice | None = None
    agent: AgentCheck | None = None
    kept: bytes = b""  # the raw mail as the store keeps it: sealed in anonymous queues
