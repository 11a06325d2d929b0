"""Mail coming in: the envelope and outcomes (plain data), the pipeline that stores a
message in one transaction, and the adapters that feed it (SMTP/LMTP listener, IMAP).

Adapters depend on ``envelope`` (data), never on the pipeline.
Pure: envelope
May import: maildesk.errors, maildesk.model, maildesk.clock, maildesk.workflow,
maildesk.templates, maildesk.desk, maildesk.mail, maildesk.config, maildesk.store,
maildesk.agents, maildesk.sla, maildesk.surveys, maildesk.outbox, maildesk.privacy,
maildesk.oauth.
"""
