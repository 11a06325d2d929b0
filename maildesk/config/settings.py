"""Every configuration key, declared once: its default, its type and its help text.

``config.py`` validates against this table and ``maildesk init`` writes the documented
``config.toml`` from it, so a key cannot exist without documentation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from maildesk.sla.calendar import DAYS

Value = str | int | float | bool | list[str]


@dataclass(frozen=True)
class Setting:
    key: str  # the name inside its table
    default: Value
    help: str
    choices: tuple[str, ...] = ()
    minimum: int | None = None
    maximum: int | None = None
    example: bool = False  # written commented out by ``maildesk init`` (no useful default)


@dataclass(frozen=True)
class Section:
    name: str
    help: str
    settings: tuple[Setting, ...]
    array: bool = False  # ``[[name]]``: a list of tables

    def get(self, key: str) -> Setting | None:
        return next((s for s in self.settings if s.key == key), None)


SECTIONS: Final[tuple[Section, ...]] = (
    Section(
        "maildesk",
        "General settings. Relative paths are relative to this file's folder.",
        (
            Setting(
                "database",
                "maildesk.db",
                "SQLite file holding tickets, raw mail and the outbox; or a PostgreSQL URL,"
                " postgresql://USER@HOST:PORT/DBNAME, for several daemons sharing one database.",
            ),
            Setting(
                "database_password_env",
                "",
                "Environment variable holding the PostgreSQL password; empty: libpq finds it"
                " ($PGPASSWORD, ~/.pgpass). Never write it into the URL.",
            ),
            Setting("language", "es", "Default language of mail sent to requesters.", ("es", "en")),
            Setting(
                "timezone", "America/Santo_Domingo", "IANA time zone of the business calendar."
            ),
            Setting("organization", "Mesa de servicio", "Name used in greetings and signatures."),
            Setting(
                "secret_file",
                "maildesk.secret",
                "File with the secret that signs our Message-IDs"
                " (created with mode 0600 when missing).",
            ),
            Setting(
                "secret_env",
                "MAILDESK_SECRET",
                "Environment variable that, when set, holds the secret instead of secret_file.",
            ),
            Setting(
                "templates_dir",
                "",
                "Folder with site templates ({lang}/name.txt.j2) that override the packaged ones.",
            ),
            Setting(
                "reopen_days",
                14,
                "A follow-up to a closed ticket within this many days reopens it; later it opens"
                " a new ticket linked to the old one.",
                minimum=0,
                maximum=3650,
            ),
            Setting("log_level", "info", "Log level.", ("debug", "info", "warning", "error")),
            Setting(
                "node",
                "",
                "This daemon's name in /healthz, /metrics and the logs, where several daemons"
                " share one PostgreSQL database; empty: the machine's host name.",
            ),
        ),
    ),
    Section(
        "listener",
        "Inbound SMTP or LMTP listener (for the MTA, or for testing with any mail client).",
        (
            Setting("enabled", True, "Start the listener."),
            Setting("host", "127.0.0.1", "Address to bind."),
            Setting("port", 8025, "Port to bind.", minimum=1, maximum=65535),
            Setting("protocol", "smtp", "Protocol spoken by the listener.", ("smtp", "lmtp")),
            Setting(
                "max_message_bytes",
                26214400,
                "Larger messages are refused with 552 before they are accepted.",
                minimum=1024,
            ),
        ),
    ),
    Section(
        "outgoing",
        'How mail leaves. "file" writes .eml files into a folder (the embedded default);'
        ' "smtp" delivers through a relay.',
        (
            Setting("transport", "file", "Transport for outgoing mail.", ("file", "smtp")),
            Setting("directory", "outbox", "Folder for .eml files when transport is file."),
            Setting("host", "localhost", "SMTP relay host.", example=True),
            Setting("port", 587, "SMTP relay port.", minimum=1, maximum=65535, example=True),
            Setting(
                "tls",
                "starttls",
                'TLS towards the relay; "none" with a username only for a relay on this'
                " machine (loopback): the password would cross the network in clear text.",
                ("starttls", "tls", "none"),
                example=True,
            ),
            Setting("username", "", "Relay login; empty for none.", example=True),
            Setting(
                "password_env",
                "MAILDESK_SMTP_PASSWORD",
                "Environment variable holding the relay password.",
                example=True,
            ),
            Setting(
                "password_file",
                "",
                "File holding the relay password (e.g. a systemd credential).",
                example=True,
            ),
            Setting(
                "oauth",
                "",
                "Name of an [[oauth]] table: sign in to the relay with SASL XOAUTH2 and a token"
                " instead of a password (username is the mailbox); excludes password_env and"
                " password_file.",
                example=True,
            ),
            Setting(
                "ca_file",
                "",
                "CA certificates to trust for the relay's TLS certificate; empty: the system's.",
                example=True,
            ),
            Setting("timeout_seconds", 30, "Relay connection timeout.", minimum=1, maximum=600),
            Setting(
                "retry_seconds",
                30,
                "First wait after a failed delivery; each further failure doubles it"
                " (up to an hour).",
                minimum=1,
                maximum=3600,
            ),
            Setting(
                "max_age_hours",
                120,
                "A message still undelivered after this long is marked failed and reported.",
                minimum=1,
                maximum=2400,
            ),
        ),
    ),
    Section(
        "calendar",
        "Business hours: response commitments are counted in working hours.",
        (
            *(
                Setting(
                    day,
                    "08:00-20:00" if day not in ("sat", "sun") else "",
                    f"Working periods on {day}: 'HH:MM-HH:MM', several separated by commas;"
                    " '' closed.",
                )
                for day in DAYS
            ),
            Setting("holidays", [], "Holiday dates, YYYY-MM-DD."),
            Setting(
                "holidays_file",
                "",
                "A file of holidays: one date per line (YYYY-MM-DD, text after it and # comments"
                " allowed), or an ICS calendar; added to holidays.",
            ),
            Setting(
                "closures",
                [],
                "One-off closures in local time, 'START/END' with each 'YYYY-MM-DD HH:MM' or a"
                " date (its midnight), e.g. '2026-12-24 13:00/2026-12-26'.",
            ),
            Setting(
                "first_response_hours",
                24,
                "Working hours within which every request is answered or escalated.",
                minimum=1,
                maximum=10000,
            ),
        ),
    ),
    Section(
        "sla",
        "Service commitments, counted in working hours of [calendar] (days where it says so):"
        " reminders before a commitment is breached, escalation at the breach (see"
        " [[escalations]]) and follow-ups. Time waiting on the requester (pending) does not"
        " count.",
        (
            Setting(
                "warn_share",
                0.75,
                "When this share of a commitment has gone by, the ticket's agent (else its"
                " group, else the queue's level 0 or 1 escalation contacts) is reminded, in one"
                " digest per person per run; 0: no reminders.",
            ),
            Setting(
                "next_response_hours",
                24,
                "Working hours within which a requester's follow-up is answered once the first"
                " answer was given; 0: no such commitment.",
                minimum=0,
                maximum=10000,
            ),
            Setting(
                "resolution_hours",
                0,
                "Working hours within which a ticket is resolved; 0: no resolution commitment.",
                minimum=0,
                maximum=100000,
            ),
            Setting(
                "pending_reminder_days",
                3,
                "A ticket waiting on the requester reminds them after this many working days"
                " (unless #pending set its own date); 0: never.",
                minimum=0,
                maximum=365,
            ),
            Setting(
                "pending_close_days",
                0,
                "A ticket waiting on the requester closes after this many working days without"
                " an answer; 0: never.",
                minimum=0,
                maximum=365,
            ),
            Setting(
                "resolved_close_days",
                7,
                "A resolved ticket closes after this many days unless the requester writes back"
                " (which reopens it); 0: never.",
                minimum=0,
                maximum=365,
            ),
            Setting(
                "progress_days",
                7,
                "Requesters of open tickets older than this many days, to whom nobody wrote in"
                " as many days, receive a progress notice (in working hours); 0: never.",
                minimum=0,
                maximum=365,
            ),
            Setting(
                "sweep_seconds",
                60,
                "How often the daemon looks for due reminders, escalations and follow-ups.",
                minimum=1,
                maximum=3600,
            ),
        ),
    ),
    Section(
        "limits",
        "Protections against mail loops and oversized mail.",
        (
            Setting(
                "auto_replies_per_hour",
                5,
                "At most this many automatic messages to one address per hour; beyond it"
                " mail is recorded but not answered, so a loop with another robot dies out.",
                minimum=1,
                maximum=1000,
            ),
            Setting(
                "mails_per_recipient_per_hour",
                100,
                "At most this many mails of ours to one address per hour, of every kind"
                " (notifications, reminders, escalations, digests, reports, surveys,"
                " acknowledgements) but agents' own replies; beyond it a recipient is"
                " skipped, logged and noted on the ticket, so no loop floods a mailbox.",
                minimum=1,
                maximum=100000,
            ),
            Setting(
                "max_attachments",
                50,
                "Attachments kept per message; the rest stay only in the raw mail, and the"
                " requester is told.",
                minimum=0,
                maximum=10000,
            ),
            Setting(
                "max_attachment_bytes",
                20971520,
                "Total attachment size kept per message (bytes); beyond it, as above.",
                minimum=0,
            ),
        ),
    ),
    Section(
        "queues",
        "One [[queues]] table per mailbox. A message belongs to the first queue, in this order,"
        " that has one of its recipients. 'info@*' means info@ at any domain.",
        (
            Setting("name", "info", "Short name of the queue (letters, digits, - and _)."),
            Setting("addresses", ["info@*"], "Addresses served by this queue."),
            Setting("tag", "INFO", "Subject tag prefix: [INFO#42]."),
            Setting(
                "language",
                "",
                "Language of this queue's mail; empty for [maildesk] language.",
                ("", "es", "en"),
            ),
            Setting(
                "groups",
                [],
                "Groups of [[agents]] that serve this queue; a new ticket goes to the first"
                " unless a [[routes]] rule names another. Empty: every agent serves it.",
            ),
            *(
                Setting(
                    f"rota_{day}",
                    [],
                    f"Agents on duty on {day} (address or name); several take new tickets in"
                    " turn. Empty: the rotation decides.",
                )
                for day in DAYS
            ),
            Setting(
                "rotation",
                [],
                "Agents on duty in turn, one per open day ([calendar] days with hours), on days"
                " whose rota_<day> is empty; a closed day belongs to the next open one. With no"
                " rota and no rotation, new tickets stay unassigned and the group is notified.",
            ),
            Setting(
                "rotation_start",
                "",
                "Date (YYYY-MM-DD) on which the first agent of rotation is on duty; empty for"
                " 2024-01-01.",
            ),
            Setting(
                "notify_attachments",
                "attach",
                "The requester's attachments in notifications to agents: attached, or listed"
                " by name and size.",
                ("attach", "list"),
            ),
            Setting(
                "pending_days",
                0,
                "Days #pending waits for the requester when no number is given; then a reminder"
                " is due. 0: [sla] pending_reminder_days working days.",
                minimum=0,
                maximum=365,
            ),
            Setting(
                "duplicate_hours",
                72,
                "An untagged new message from a requester with an open ticket in this queue on"
                " the same subject, active within this many hours, joins that ticket; 0: never.",
                minimum=0,
                maximum=8760,
            ),
            Setting(
                "anonymous",
                False,
                "Anonymous complaints: the sender's address is kept only sealed with"
                " [privacy] seal_key_file, for replies; agents, notifications, reports and"
                " logs see a pseudonym (Anónimo K7Q2-M4XT), and Cc'd people are not copied.",
            ),
        ),
        array=True,
    ),
    Section(
        "agents",
        "People who answer, from their own mail client. Only these addresses may act as"
        " agents: replies to our notifications are relayed to the requester and may carry"
        " commands (#close, #assign …).",
        (
            Setting("name", "", "Display name."),
            Setting(
                "addresses",
                [],
                "The agent's address first (notifications go there), then aliases.",
            ),
            Setting(
                "groups", [], "Groups (areas) the agent belongs to, e.g. admisiones, soporte-ti."
            ),
            Setting("language", "", "Language of mail sent to this agent.", ("", "es", "en")),
            Setting("coordinator", False, "Coordinators may also #cancel tickets."),
        ),
        array=True,
    ),
    Section(
        "routes",
        "Routing rules (the service catalogue), tried in order when a ticket opens. A rule"
        " matches when each of its non-empty criteria does (any item of a list); category,"
        " group, priority and segment are each set by the first matching rule that sets them.",
        (
            Setting("queue", "", "Only tickets of this queue; empty for any."),
            Setting(
                "recipients", [], "Any of these recipients (To, Cc); 'becas@*' for any domain."
            ),
            Setting("sender_domains", [], "The sender's domain, or a subdomain of one of these."),
            Setting(
                "subject_keywords",
                [],
                "Any of these words or phrases in the subject (case and accents ignored).",
            ),
            Setting("body_keywords", [], "Any of these words or phrases in the message text."),
            Setting("category", "", "Category to set: a [[categories]] name."),
            Setting("group", "", "Group to give the ticket to (a group of [[agents]])."),
            Setting("priority", "", "Priority to set.", ("", "low", "normal", "high", "urgent")),
            Setting("segment", "", "Requester segment to set, e.g. vip or preferred."),
        ),
        array=True,
    ),
    Section(
        "categories",
        "Categories of the service catalogue, set by [[routes]] or by an agent's #category.",
        (
            Setting("name", "", "Short name (lower-case letters, digits, - and _)."),
            Setting(
                "ack_template",
                "",
                "Acknowledgement for new tickets of this category, e.g. ack_certificados.txt.j2"
                " in templates_dir/<lang>/, to ask for the data it needs; empty: the usual one.",
            ),
        ),
        array=True,
    ),
    Section(
        "agent_auth",
        "From can be forged: agent mail may have to prove itself with the receiving MTA's"
        " Authentication-Results header (RFC 8601; the MTA must remove such headers that"
        " claim its authserv-id from incoming mail).",
        (
            Setting(
                "require",
                False,
                "Act on agent mail only when a trusted Authentication-Results header shows"
                " DKIM, SPF or DMARC pass for the From domain; otherwise it is handled as a"
                " requester's message and the agents are warned.",
            ),
            Setting(
                "authserv_ids",
                [],
                "authserv-id of each receiving MTA whose Authentication-Results are trusted,"
                " e.g. mx.uni.example.",
            ),
        ),
    ),
    Section(
        "oauth",
        "One [[oauth]] table per OAuth2 client credential, named by the oauth key of"
        " [[imap]] accounts and [outgoing]: Microsoft 365 and Google Workspace accept only"
        " OAuth2 sign-in. Tokens are fetched, and refreshed before they expire, by the daemon;"
        ' none is ever written to the log. See "Microsoft 365 and Google Workspace" in'
        " docs/admin.md.",
        (
            Setting("name", "", "Short name, given as oauth = NAME in [[imap]] and [outgoing]."),
            Setting(
                "provider",
                "microsoft",
                "Whose token endpoint: microsoft and google derive it; generic needs token_url.",
                ("microsoft", "google", "generic"),
            ),
            Setting("tenant", "", "Microsoft only: the tenant's domain or id."),
            Setting(
                "client_id",
                "",
                "The application (client) id of the app registration; for a Google service"
                " account, the client id in its JSON key.",
            ),
            Setting(
                "client_secret_env",
                "",
                "Environment variable holding the client secret.",
            ),
            Setting(
                "client_secret_file",
                "",
                "File holding the client secret (e.g. a systemd credential), or a Google"
                " service account's JSON key, read at each token request; a refresh token is"
                " kept beside it.",
            ),
            Setting(
                "certificate_file",
                "",
                "Microsoft only, instead of a secret: a PEM file with the app's certificate and"
                " its RSA private key.",
            ),
            Setting(
                "token_url",
                "",
                "Token endpoint; derived for microsoft and google, required for generic;"
                " https unless on loopback.",
            ),
            Setting(
                "scopes",
                [],
                "Scopes asked for; empty: the provider's IMAP and SMTP scopes.",
            ),
            Setting(
                "grant",
                "client_credentials",
                "client_credentials: the app's own access (app-only); refresh_token: a user's"
                " delegated access, signed in once with maildesk oauth login NAME.",
                ("client_credentials", "refresh_token"),
            ),
        ),
        array=True,
    ),
    Section(
        "imap",
        "One [[imap]] table per mailbox to collect from an IMAP server (IDLE, else polling)."
        " A message is flagged \\Seen and moved only after it is stored. With IMAP accounts"
        " the [listener] may be disabled.",
        (
            Setting(
                "name",
                "",
                "Short name of the account (letters, digits, - and _), used in logs and the store.",
            ),
            Setting("host", "", "IMAP server."),
            Setting(
                "port",
                0,
                "Port; 0 for the usual one (993 with tls, 143 otherwise).",
                minimum=0,
                maximum=65535,
            ),
            Setting(
                "tls",
                "tls",
                '"tls": implicit TLS; "starttls": upgrade the connection or fail, never'
                ' continue in plain text; "none": only for a server on this machine (loopback).',
                ("tls", "starttls", "none"),
            ),
            Setting("username", "", "Login name."),
            Setting(
                "password_env",
                "",
                "Environment variable holding the password; when empty or unset, password_file"
                " is read.",
            ),
            Setting(
                "password_file",
                "",
                "File holding the password (e.g. a systemd credential), read at each login.",
            ),
            Setting(
                "oauth",
                "",
                "Name of an [[oauth]] table: sign in with SASL XOAUTH2 (OAUTHBEARER where"
                " offered) and a token instead of a password; excludes password_env and"
                " password_file.",
            ),
            Setting("folder", "INBOX", "Folder to collect from."),
            Setting(
                "processed_folder",
                "Processed",
                'Stored mail is flagged \\Seen and moved here (created if missing); "" leaves'
                " it in place, flagged \\Seen.",
            ),
            Setting(
                "quarantine_folder",
                "Quarantine",
                "Mail that cannot be read is kept in quarantine with the reason and moved here"
                ' (created if missing); "" leaves it in place, flagged \\Seen.',
            ),
            Setting("queue", "", "The [[queues]] name this mailbox feeds."),
            Setting(
                "idle",
                True,
                "Use IMAP IDLE when the server offers it: new mail is taken within seconds.",
            ),
            Setting(
                "poll_seconds",
                60,
                "Seconds between checks for new mail without IDLE; with IDLE, it is renewed"
                " this often (at most every 300 s) and the folder checked, in case the server"
                " missed a notice.",
                minimum=1,
                maximum=3600,
            ),
            Setting(
                "batch_size",
                200,
                "Messages fetched per request; a mailbox is never held in memory at once.",
                minimum=1,
                maximum=5000,
            ),
        ),
        array=True,
    ),
    Section(
        "http",
        "HTTP listener inside the daemon: GET /healthz (readiness and the state of each part)"
        " and GET /metrics (Prometheus text format). Keep it on loopback, or behind a reverse"
        " proxy that serves public_base_url.",
        (
            Setting("enabled", True, "Start the HTTP listener."),
            Setting("host", "127.0.0.1", "Address to bind."),
            Setting("port", 8026, "Port to bind.", minimum=1, maximum=65535),
            Setting(
                "public_base_url",
                "",
                "Address under which people reach this listener (e.g. https://desk.example.edu/"
                " through a reverse proxy), used for links in mail; empty: http://HOST:PORT/.",
            ),
        ),
    ),
    Section(
        "privacy",
        "Personal-data duties: how long records are kept. See also maildesk purge, export"
        " and erase.",
        (
            Setting(
                "retention_days",
                365,
                "Closed and cancelled tickets are purged this many days after they closed, with"
                " their messages, raw mail and attachments; so are quarantined mail and mail"
                " that joined no ticket, counted from its arrival. Checked daily by the daemon.",
                minimum=1,
                maximum=36500,
            ),
            Setting(
                "controller",
                "",
                "The data controller named in the privacy notice: who answers for the personal"
                " data (a legal name, and where to write about it); empty: [maildesk]"
                " organization.",
            ),
            Setting(
                "seal_key_file",
                "maildesk.seal.key",
                "File with the key that seals the addresses of anonymous queues (created with"
                " mode 0600 when missing). Keep it out of the database backup, and keep a copy:"
                " without it, anonymous requesters cannot be answered.",
            ),
            Setting(
                "seal_key_env",
                "MAILDESK_SEAL_KEY",
                "Environment variable that, when set, holds the seal key instead of seal_key_file.",
            ),
        ),
    ),
    Section(
        "surveys",
        "Closing surveys: when a ticket closes (#close, maildesk close, auto-close) the"
        " requester is asked whether it was solved and for a score, by links to pages of"
        " the [http] listener or by replying. Not for cancelled or merged tickets, tickets"
        " opened by automatic mail, addresses that bounced or opted out; one per ticket."
        " A 'not solved' answer reopens the ticket.",
        (
            Setting("enabled", True, "Send closing surveys."),
            Setting("skip_queues", [], "Queues whose tickets get no survey."),
            Setting("scale", "1-5", "Score scale.", ("1-5", "0-10")),
            Setting(
                "threshold",
                0,
                "Scores below this are low: the requester is asked why (when no comment came)"
                " and the queue's [[escalations]] contacts (else its agents) are told;"
                " 0: 3 on the 1-5 scale, 7 on 0-10.",
                minimum=0,
                maximum=10,
            ),
            Setting(
                "token_days",
                30,
                "Days the links of a survey (and replies to it) are taken.",
                minimum=1,
                maximum=365,
            ),
        ),
    ),
    Section(
        "reports",
        "The monthly report (maildesk report): the daemon mails the previous month's report"
        " (HTML attached, the summary in the body) on the first working day of each month.",
        (
            Setting("enabled", True, "Mail the monthly report (when recipients are set)."),
            Setting("recipients", [], "Coordinators who receive it; empty: nobody."),
        ),
    ),
    Section(
        "sla_policies",
        "Other commitments for some tickets: the first table whose queue, priority and"
        " segment all match a ticket applies ('' matches any). Hours left at 0 keep the"
        " [calendar] and [sla] values.",
        (
            Setting("queue", "", "Only tickets of this queue; '' any."),
            Setting(
                "priority",
                "",
                "Only tickets of this priority; '' any.",
                ("", "low", "normal", "high", "urgent"),
            ),
            Setting("segment", "", "Only requesters of this segment (e.g. vip); '' any."),
            Setting(
                "first_response_hours",
                0,
                "First response, working hours.",
                minimum=0,
                maximum=10000,
            ),
            Setting(
                "next_response_hours", 0, "Next response, working hours.", minimum=0, maximum=10000
            ),
            Setting("resolution_hours", 0, "Resolution, working hours.", minimum=0, maximum=100000),
        ),
        array=True,
    ),
    Section(
        "escalations",
        "Who hears of a breached commitment: level 1 at the breach, further levels later."
        " Each level is reached once per commitment and marked on the ticket. Level 0 names"
        " who is reminded of tickets at risk that have no agent or group.",
        (
            Setting(
                "queue", "", "Queue name; '' for every queue without its own table of this level."
            ),
            Setting(
                "level",
                1,
                "0: reminders before the breach; 1, 2 …: escalation levels.",
                minimum=0,
                maximum=9,
            ),
            Setting(
                "after_hours",
                0,
                "Working hours past the due time at which this level is reached (level 1: 0).",
                minimum=0,
                maximum=100000,
            ),
            Setting("notify", [], "Addresses told: a supervisor, an area, a director."),
        ),
        array=True,
    ),
)


def section(name: str) -> Section:
    return next(s for s in SECTIONS if s.name == name)
