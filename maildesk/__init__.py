"""maildesk: inbound mailboxes become tickets; mail is the interface.

The top of the package holds only the shared nouns: ``errors``, ``clock``, ``model``,
``workflow`` (the ticket state machine), ``templates`` and ``desk`` (the application
object, built once per configuration). Everything else lives in one folder per feature.

Pure: errors, model, workflow
"""

__version__ = "0.1.0"
