"""The monthly report: the indicators (pure), the month's queries over the store, and the
report mail and its HTML page.

Pure: indicators
May import: maildesk.errors, maildesk.model, maildesk.templates, maildesk.mail,
maildesk.config, maildesk.sla, maildesk.store, maildesk.outbox.
"""
