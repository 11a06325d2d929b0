"""Agents: who they are, the rota, routing and same-matter detection, who takes part in a
ticket (pure); what they do to a ticket and the notifications about it (actions); the
agent side of the pipeline (intake: recognising agent mail, relaying replies, applying
commands, holding mail that claims an agent's address without proving it).

Pure: directory, routing, participants
May import: maildesk.errors, maildesk.model, maildesk.workflow, maildesk.templates,
maildesk.mail, maildesk.config, maildesk.sla, maildesk.store, maildesk.outbox,
maildesk.privacy.
"""
