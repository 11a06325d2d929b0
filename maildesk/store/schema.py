"""The database schema as numbered migrations, applied in a transaction on every start.

Written once, in SQLite's words, for both stores: migrate.py maps the few type names
PostgreSQL spells otherwise, and keeps one history of the steps in either database.
"""

from __future__ import annotations

from pathlib import Path

from maildesk.store.database import Connection, Dialect
from maildesk.store.database import connect as _connect
from maildesk.store.migrate import Migrations, Schema

migrations = Migrations("maildesk")


@migrations(name="0001_initial")
def _initial(db: Schema) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

        CREATE TABLE tickets (
            number INTEGER PRIMARY KEY AUTOINCREMENT,
            queue TEXT NOT NULL,
            queue_address TEXT NOT NULL,      -- where the requester wrote; we answer from it
            state TEXT NOT NULL,
            subject TEXT NOT NULL,
            requester TEXT NOT NULL,
            requester_name TEXT NOT NULL,
            language TEXT NOT NULL,
            claimed_tag TEXT,                 -- a tag a stranger used when writing in
            linked_to INTEGER REFERENCES tickets(number),
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            closed_at TEXT
        );
        CREATE INDEX tickets_state ON tickets(state, queue);
        CREATE INDEX tickets_requester ON tickets(requester);
        CREATE INDEX tickets_updated ON tickets(updated_at);

        CREATE TABLE participants (
            ticket INTEGER NOT NULL REFERENCES tickets(number),
            address TEXT NOT NULL,
            role TEXT NOT NULL,               -- requester | cc
            PRIMARY KEY (ticket, address)
        ) WITHOUT ROWID;

        -- Raw mail and attachments, stored once by content hash: one file to back up.
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            size INTEGER NOT NULL,
            data BLOB NOT NULL
        );

        CREATE TABLE messages (
            id INTEGER PRIMARY KEY,
            ticket INTEGER REFERENCES tickets(number),
            direction TEXT NOT NULL CHECK (direction IN ('in', 'out')),
            kind TEXT NOT NULL,               -- human, auto-reply, bounce … or ack for ours
            message_id TEXT NOT NULL,
            dedupe_key TEXT,
            from_addr TEXT NOT NULL,
            from_name TEXT NOT NULL,
            to_addrs TEXT NOT NULL,           -- JSON list
            cc_addrs TEXT NOT NULL,           -- JSON list
            subject TEXT NOT NULL,
            body TEXT NOT NULL,
            sent_at TEXT,                     -- the Date header
            received_at TEXT NOT NULL,
            source TEXT NOT NULL,             -- smtp, lmtp, imap:<account>, maildesk
            envelope_from TEXT,
            raw_sha256 TEXT REFERENCES blobs(sha256),
            note TEXT NOT NULL DEFAULT ''     -- classification reason, defects
        );
        CREATE UNIQUE INDEX messages_dedupe ON messages(dedupe_key) WHERE dedupe_key IS NOT NULL;
        CREATE INDEX messages_message_id ON messages(message_id);
        CREATE INDEX messages_ticket ON messages(ticket);

        CREATE TABLE attachments (
            id INTEGER PRIMARY KEY,
            message INTEGER NOT NULL REFERENCES messages(id),
            filename TEXT NOT NULL,
            content_type TEXT NOT NULL,
            size INTEGER NOT NULL,
            sha256 TEXT NOT NULL REFERENCES blobs(sha256)
        );
        CREATE INDEX attachments_message ON attachments(message);

        CREATE TABLE events (
            id INTEGER PRIMARY KEY,
            ticket INTEGER REFERENCES tickets(number),
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL DEFAULT ''
        );
        CREATE INDEX events_ticket ON events(ticket);

        -- Written in the same transaction as the change that causes the mail (invariant 3).
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            ticket INTEGER REFERENCES tickets(number),
            message INTEGER REFERENCES messages(id),
            kind TEXT NOT NULL,
            message_id TEXT NOT NULL,
            mail_from TEXT NOT NULL,
            rcpt_to TEXT NOT NULL,            -- JSON list
            raw BLOB NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending',   -- pending | sent | failed
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            sent_at TEXT
        );
        CREATE INDEX outbox_due ON outbox(state, next_attempt_at);

        CREATE TABLE quarantine (
            id INTEGER PRIMARY KEY,
            received_at TEXT NOT NULL,
            source TEXT NOT NULL,
            reason TEXT NOT NULL,
            envelope_from TEXT,
            recipients TEXT NOT NULL,         -- JSON list
            size INTEGER NOT NULL,
            raw_sha256 TEXT NOT NULL REFERENCES blobs(sha256)
        );
        """
    )


@migrations(name="0002_imap_state")
def _imap_state(db: Schema) -> None:
    # Where each IMAP account stands in each folder. Only an optimisation: a message
    # fetched again after a crash is recognised by the pipeline's dedupe key.
    db.executescript(
        """
        CREATE TABLE imap_state (
            account TEXT NOT NULL,
            folder TEXT NOT NULL,
            uidvalidity INTEGER NOT NULL,
            last_uid INTEGER NOT NULL,        -- every UID up to this one has been taken
            updated_at TEXT NOT NULL,
            PRIMARY KEY (account, folder)
        ) WITHOUT ROWID;
        -- A quarantined message fetched again after a crash is recognised by its bytes.
        CREATE INDEX quarantine_raw ON quarantine(raw_sha256, source);
        """
    )


@migrations(name="0003_outbox_recipient")
def _outbox_recipient(db: Schema) -> None:
    # Counting what we sent to one address lately (the loop guard) must not scan the outbox.
    db.executescript(
        """
        ALTER TABLE outbox ADD COLUMN recipient TEXT NOT NULL DEFAULT '';
        CREATE INDEX outbox_recipient ON outbox(recipient, created_at);
        CREATE INDEX outbox_message_id ON outbox(message_id);
        """
    )
    # Written twice: the two databases read a JSON list's first item with different words.
    first = "rcpt_to::json ->> 0" if db.dialect.is_postgres else "json_extract(rcpt_to, '$[0]')"
    db.conn.execute(f"UPDATE outbox SET recipient = {first}")  # noqa: S608 - fixed text


@migrations(name="0004_agent_fields")
def _agent_fields(db: Schema) -> None:
    # What agents and routing rules set on a ticket (maildesk/agents/actions.py, routing.py).
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN assignee TEXT;          -- an agent's first address
        ALTER TABLE tickets ADD COLUMN group_name TEXT;        -- the group (area) it belongs to
        ALTER TABLE tickets ADD COLUMN priority TEXT NOT NULL DEFAULT 'normal';
        ALTER TABLE tickets ADD COLUMN category TEXT;
        ALTER TABLE tickets ADD COLUMN segment TEXT;           -- standard, preferred, vip …
        ALTER TABLE tickets ADD COLUMN first_response_at TEXT; -- the first reply sent by an agent
        ALTER TABLE tickets ADD COLUMN resolved_at TEXT;
        ALTER TABLE tickets ADD COLUMN pending_until TEXT;     -- #pending: reminder due then
        ALTER TABLE tickets ADD COLUMN merged_into INTEGER REFERENCES tickets(number);
        CREATE INDEX tickets_assignee ON tickets(assignee, state);
        CREATE INDEX tickets_requester_queue ON tickets(requester, queue, state);
        """
    )


@migrations(name="0005_sla_clocks")
def _sla_clocks(db: Schema) -> None:
    # The service-level clocks of a ticket (maildesk/sla/deadlines.py): facts, then the instants
    # derived from them. The sweeps find what is due through partial indexes that hold only
    # tickets with something still to come, so a sweep never reads the other tickets.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN response_kind TEXT;    -- first_response | next_response
        ALTER TABLE tickets ADD COLUMN response_from TEXT;    -- arrival of the mail owed an answer
        ALTER TABLE tickets ADD COLUMN response_paused REAL NOT NULL DEFAULT 0;  -- pending, seconds
        ALTER TABLE tickets ADD COLUMN response_warned INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN response_level INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN resolution_from TEXT;  -- opened or reopened; NULL: stopped
        ALTER TABLE tickets ADD COLUMN resolution_paused REAL NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN resolution_warned INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN resolution_level INTEGER NOT NULL DEFAULT 0;
        ALTER TABLE tickets ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;  -- highest
        ALTER TABLE tickets ADD COLUMN escalated_at TEXT;
        ALTER TABLE tickets ADD COLUMN pending_since TEXT;
        ALTER TABLE tickets ADD COLUMN first_response_due TEXT;
        ALTER TABLE tickets ADD COLUMN next_response_due TEXT;
        ALTER TABLE tickets ADD COLUMN resolution_due TEXT;
        ALTER TABLE tickets ADD COLUMN risk_at TEXT;          -- the earliest warning instant
        ALTER TABLE tickets ADD COLUMN sla_next_at TEXT;      -- next warning or escalation
        ALTER TABLE tickets ADD COLUMN followup_at TEXT;      -- next reminder, notice or close
        -- Tickets already waiting get their clocks from the first sweeps.
        UPDATE tickets SET response_kind = 'first_response', response_from = created_at
            WHERE state = 'new';
        UPDATE tickets SET resolution_from = created_at, sla_next_at = created_at
            WHERE state IN ('new', 'open', 'reopened');
        UPDATE tickets SET pending_since = updated_at WHERE state = 'pending';
        UPDATE tickets SET followup_at = updated_at
            WHERE state IN ('new', 'open', 'reopened', 'pending', 'resolved');
        CREATE INDEX tickets_sla_next ON tickets(sla_next_at) WHERE sla_next_at IS NOT NULL;
        CREATE INDEX tickets_followup ON tickets(followup_at) WHERE followup_at IS NOT NULL;
        CREATE INDEX tickets_risk ON tickets(risk_at) WHERE risk_at IS NOT NULL;
        """
    )


@migrations(name="0006_reference_indexes")
def _reference_indexes(db: Schema) -> None:
    # The retention purge and erasure (store/privacy.py) delete a ticket's outbox rows and
    # free a blob once nothing points at it; without these, each is a full scan.
    db.executescript(
        """
        CREATE INDEX messages_raw ON messages(raw_sha256);
        CREATE INDEX attachments_blob ON attachments(sha256);
        CREATE INDEX outbox_ticket ON outbox(ticket);
        CREATE INDEX outbox_message ON outbox(message);
        CREATE INDEX tickets_linked ON tickets(linked_to);
        """
    )
    # Deleting a ticket makes SQLite look for tickets merged into it: without an index,
    # a scan of all tickets for each one (13 s instead of 36 ms for 200 of 200,000).
    if "merged_into" in db.columns("tickets"):
        db.conn.execute("CREATE INDEX IF NOT EXISTS tickets_merged ON tickets(merged_into)")


@migrations(name="0007_surveys")
def _surveys(db: Schema) -> None:
    # Closing surveys (maildesk/surveys/service.py): one row per ticket, sent at most once;
    # an answer given again replaces the earlier one. Addresses that asked for no surveys.
    db.executescript(
        """
        CREATE TABLE surveys (
            ticket INTEGER PRIMARY KEY REFERENCES tickets(number) ON DELETE CASCADE,
            requester TEXT NOT NULL,
            language TEXT NOT NULL,
            scale TEXT NOT NULL,              -- 1-5 | 0-10
            nonce TEXT NOT NULL,              -- in the links' tokens: a new survey, new links
            message_id TEXT NOT NULL,         -- the survey mail's signed Message-ID
            sent_at TEXT NOT NULL,
            expires_at TEXT NOT NULL,
            solved INTEGER,                   -- 1 yes, 0 no, NULL not answered
            score INTEGER,
            comment TEXT NOT NULL DEFAULT '',
            recommend INTEGER,                -- 1 yes, 0 no, NULL not answered
            answered_at TEXT,                 -- the last answer
            answered_via TEXT,                -- web | mail
            answers INTEGER NOT NULL DEFAULT 0,
            asked_why_at TEXT,                -- a low score without comment: asked once
            low_told_at TEXT                  -- a low score: supervisors told once
        );
        CREATE INDEX surveys_sent ON surveys(sent_at);
        CREATE INDEX surveys_answered ON surveys(answered_at) WHERE answered_at IS NOT NULL;
        CREATE TABLE survey_optouts (
            address TEXT PRIMARY KEY,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        """
    )


@migrations(name="0008_report_indexes")
def _report_indexes(db: Schema) -> None:
    # The monthly report (maildesk/reports/queries.py) reads one month at a time: tickets
    # opened or closed in it, messages received in it (the index covers the count by
    # direction and ticket), and escalation and reopening events in it.
    db.executescript(
        """
        CREATE INDEX tickets_created ON tickets(created_at);
        CREATE INDEX tickets_closed ON tickets(closed_at) WHERE closed_at IS NOT NULL;
        CREATE INDEX messages_received ON messages(received_at, direction, ticket);
        CREATE INDEX events_kind_at ON events(kind, at);
        """
    )


@migrations(name="0009_report_message_kinds")
def _report_message_kinds(db: Schema) -> None:
    # The report counts inbound mail without agents' own (their kind says so): with the
    # kind in the index, the month's messages are still counted from the index alone.
    db.executescript(
        """
        DROP INDEX IF EXISTS messages_received;
        CREATE INDEX messages_received ON messages(received_at, direction, kind, ticket);
        """
    )


@migrations(name="0010_sealed_addresses")
def _sealed_addresses(db: Schema) -> None:
    # The real address behind each pseudonym of an anonymous queue (anonymity.py), sealed
    # with a key kept outside this file. Nothing else in the store holds it.
    db.executescript(
        """
        CREATE TABLE sealed_addresses (
            alias TEXT PRIMARY KEY,           -- anon-…@anonymous.invalid
            sealed BLOB NOT NULL,
            created_at TEXT NOT NULL
        );
        """
    )


@migrations(name="0011_listing_indexes")
def _listing_indexes(db: Schema) -> None:
    # Listings show the newest tickets of a state or of a queue (maildesk tickets --state
    # open): in number order within the filter, SQLite walks back from the newest and stops
    # at the limit, instead of reading and sorting every open ticket (85 ms at 80,000).
    db.executescript(
        """
        CREATE INDEX tickets_state_number ON tickets(state, number);
        CREATE INDEX tickets_queue_number ON tickets(queue, number);
        """
    )


@migrations(name="0012_first_response_paused")
def _first_response_paused(db: Schema) -> None:
    # The working time a ticket spent pending while its first answer was owed (seconds). The
    # response clock forgets its own pause once answered; the monthly report keeps judging
    # the first answer as the clock did (maildesk/reports), so the pause is kept apart.
    db.executescript(
        """
        ALTER TABLE tickets ADD COLUMN first_response_paused REAL NOT NULL DEFAULT 0;
        UPDATE tickets SET first_response_paused = response_paused
            WHERE response_kind = 'first_response';
        """
    )


@migrations(name="0013_outbox_claims")
def _outbox_claims(db: Schema) -> None:
    # Several daemons on one PostgreSQL database: the session that holds a row to send it
    # (claims.py). NULL on SQLite, where the one writer is the claim.
    db.executescript("ALTER TABLE outbox ADD COLUMN claimed_by TEXT")


@migrations(name="0014_outbox_recipients")
def _outbox_recipients(db: Schema) -> None:
    # The loop cap (outbox/mailer.py) counts the mail queued for each address in the last
    # hour, every recipient of it: outbox.recipient names only the first, and a group's
    # notification has several. Its rows go with their outbox row (purge, erasure).
    db.executescript(
        """
        CREATE TABLE outbox_recipients (
            outbox INTEGER NOT NULL REFERENCES outbox(id),
            address TEXT NOT NULL,            -- lower case
            kind TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE INDEX outbox_recipients_address ON outbox_recipients(address, created_at);
        CREATE INDEX outbox_recipients_outbox ON outbox_recipients(outbox);
        """
    )
    # The rows already queued: the JSON list of recipients is read differently by each.
    each = (
        "json_array_elements_text(o.rcpt_to::json) AS j(value)"
        if db.dialect.is_postgres
        else "json_each(o.rcpt_to) j"
    )
    db.executescript(
        "INSERT INTO outbox_recipients (outbox, address, kind, created_at)"  # noqa: S608 - fixed text
        f" SELECT o.id, lower(j.value), o.kind, o.created_at FROM outbox o, {each}"
    )


def connect(location: str | Path, password_env: str = "") -> tuple[Connection, Dialect]:
    """Open the store (a SQLite file or a PostgreSQL URL) and bring its schema up to date."""
    conn, dialect = _connect(location, password_env)
    try:
        migrations.apply(conn, dialect)
    except BaseException:
        conn.close()
        raise
    return conn, dialect
