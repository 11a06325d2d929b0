"""Outgoing mail: the mailer that renders and writes mail into the outbox table inside
the caller's transaction, the transports (SMTP relay, a folder), and the sender that
delivers due rows with retries.

May import: maildesk.errors, maildesk.model, maildesk.clock, maildesk.templates,
maildesk.mail, maildesk.config, maildesk.sla.hours, maildesk.store, maildesk.privacy,
maildesk.oauth.
"""
