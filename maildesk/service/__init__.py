"""The running daemon: wiring, the single writer and its sync thread, the scheduler,
reload on SIGHUP, systemd notification, health and metrics, logs, the HTTP listener.

May import: every maildesk package but maildesk.cli.
"""
