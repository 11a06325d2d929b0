"""Service levels: the working calendar, working time, the commitments and their review,
follow-ups and opening hours (pure); the clocks kept on ticket rows and the sweeps that
remind, escalate and follow up (store).

Pure: calendar, workclock, rules, followups, hours
May import: maildesk.errors, maildesk.model, maildesk.mail, maildesk.config, maildesk.store,
maildesk.outbox, maildesk.surveys, maildesk.desk.
"""
