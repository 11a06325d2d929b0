"""maildesk: inbound mailboxes become tickets; mail is the interface."""

__version__ = "0.1.0"
