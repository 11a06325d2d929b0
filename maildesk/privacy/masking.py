"""The pipeline's side of anonymous queues (anonymity.py): whose mail is masked, and what
the store keeps of it. Called inside the pipeline's transaction."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from maildesk.config import Config, QueueConfig
from maildesk.ingest.envelope import envelope_address
from maildesk.mail.bounces import bounced_recipients
from maildesk.mail.classify import Classification, MailKind
from maildesk.mail.parsed import Address, ParsedMail
from maildesk.privacy import sealed
from maildesk.privacy.anonymity import Sealer, mask
from maildesk.store.store import Store


@dataclass(frozen=True)
class Masked:
    real: Address  # the sender, kept only sealed
    sender: Address  # their pseudonym, which stands in for them everywhere
    mail: ParsedMail  # the mail as the desk keeps it


class Masking:
    def __init__(
        self, config: Config, store: Store, sealer: Sealer | None, own: Callable[[str], bool]
    ) -> None:
        if sealer is None and any(q.anonymous for q in config.queues):
            raise ValueError("an anonymous queue needs the seal key")
        self.config = config
        self.store = store
        self._key = sealer
        self._own = own  # whether an address is one of our queues'

    @property
    def sealer(self) -> Sealer:
        if self._key is None:  # only anonymous queues mask, and they need the key
            raise RuntimeError("no seal key loaded")
        return self._key

    def anonymous(self, queue_name: str) -> bool:
        return any(q.anonymous for q in self.config.queues if q.name == queue_name)

    def mask(
        self,
        raw: bytes,
        mail: ParsedMail,
        sender: Address,
        queue: QueueConfig,
        kind: Classification,
    ) -> Masked:
        """``mail`` from ``sender`` as an anonymous queue keeps it."""
        pseudonym = self.sealer.pseudonym(sender.email, queue.language)
        # A bounce of our answer names the anonymous requester's address in its text.
        failed = bounced_recipients(raw) if kind.kind is MailKind.BOUNCE else []
        also = {a: self.sealer.pseudonym(a, queue.language).name for a in failed}
        masked = mask(mail, sender, pseudonym, also)
        # Nobody the sender copied is written to: it would tell them who complained.
        to = tuple(a for a in masked.to if self._own(a.email))
        return Masked(sender, pseudonym, replace(masked, to=to))

    def seal(
        self, raw: bytes, mail_from: str | None, real: Address, pseudonym: Address, now: datetime
    ) -> tuple[bytes, str | None]:
        """Keep ``real`` sealed behind ``pseudonym``; (raw mail, envelope sender) as the
        store keeps them."""
        if not real.email:  # a bounce from nobody has no address to keep
            return self.sealer.seal_raw(raw), mail_from
        sealed.keep(self.store, pseudonym.email, self.sealer.seal(real.email), now)
        return self.sealer.seal_raw(raw), pseudonym.email

    def held(
        self, raw: bytes, mail_from: str | None, queue: QueueConfig, now: datetime
    ) -> tuple[bytes, str | None]:
        """Unreadable mail to an anonymous queue: held as sealed as if it were stored."""
        sender = envelope_address(mail_from) or Address("")
        pseudonym = self.sealer.pseudonym(sender.email, queue.language)
        return self.seal(raw, mail_from, sender, pseudonym, now)

    def named(self, addresses: Sequence[str], queue_name: str) -> list[str]:
        """``addresses`` as a ticket of ``queue_name`` may name them."""
        if not self.anonymous(queue_name):
            return list(addresses)
        return [self.sealer.alias(a) for a in addresses]
