"""The store: schema and migrations, the one transaction, and the queries around tickets,
messages, the outbox and the IMAP state. Knows no policy: it stores what it is told.

May import: maildesk.errors, maildesk.model, maildesk.mail.parsed.
"""
