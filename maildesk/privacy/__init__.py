"""Privacy: anonymous queues (pseudonyms, sealing; pure), masking mail on its way in, the
sealed addresses kept in the store, the retention purge, export and erasure.

The SQL of purge, export and erasure lives here, beside the rules it serves, not in
``store``: the store knows nothing of retention or anonymity.

Pure: anonymity
May import: maildesk.errors, maildesk.model, maildesk.mail, maildesk.config,
maildesk.ingest.envelope, maildesk.store.
"""
