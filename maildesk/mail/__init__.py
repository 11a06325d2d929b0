"""Mail as data: parsing raw bytes, classifying (auto-reply, bounce, list, loop),
threading by tag and Message-ID, reply quotes, agents' commands, composing outgoing mail.

Pure: thread, classify, bounces, commands, quotes, compose, htmltext, parsed
(``parse`` and ``boundaries`` wrap the mail-parser library; still no I/O of their own).
May import: maildesk.errors, maildesk.model.
"""
