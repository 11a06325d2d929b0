"""Closing surveys: tokens and reading answers (pure); sending, recording and acting on
answers (service); the survey pages (web).

Pure: rules, replies
May import: maildesk.errors, maildesk.model, maildesk.clock, maildesk.templates,
maildesk.mail, maildesk.config, maildesk.sla, maildesk.store, maildesk.outbox,
maildesk.agents, maildesk.service.web.
"""
