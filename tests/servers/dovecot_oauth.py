"""A private Dovecot that also signs users in with OAuth2 bearer tokens.

It is `Dovecot` (tests/servers/dovecot.py) with one more passdb: Dovecot's `oauth2`
driver, which accepts SASL XOAUTH2 and OAUTHBEARER and asks an RFC 7662 introspection
endpoint whether the token is active and whose it is. The passwd-file passdb stays, for
PLAIN and LOGIN only, so `append()` can still put mail in a mailbox:

    tokens = OAuthServer(users={"app": "info"})
    tokens.start()
    server = OAuthDovecot(tmp_path / "dovecot", tokens.introspection_url)
    server.add_user("info", "secret")
    server.start()
    with IMAPClient(server.host, server.port, ssl=False) as imap:
        imap.oauth2_login("info", access_token)

Only Dovecot 2.3 is supported: 2.4 moved token checks out of the passdb into an
`oauth2 { }` block with other setting names, and the base class writes 2.3's layout here.
"""

from __future__ import annotations

import os
from pathlib import Path

from tests.servers.dovecot import Dovecot

OAUTH2_CONF = "dovecot-oauth2.conf.ext"
_MECHANISMS_LINE = "auth_mechanisms = plain login\n"
_PASSWD_PASSDB = "passdb {\n  driver = passwd-file\n"


class OAuthDovecot(Dovecot):
    """A `Dovecot` whose oauth2 passdb introspects tokens at ``introspection_url``."""

    def __init__(
        self, directory: Path, introspection_url: str, *, start_timeout: float = 10.0
    ) -> None:
        super().__init__(directory, start_timeout=start_timeout)
        if self.version >= (2, 4):
            raise RuntimeError(
                f"Dovecot {self.version[0]}.{self.version[1]} is installed; OAuthDovecot "
                "writes Dovecot 2.3's oauth2 passdb (2.4 configures OAuth2 in an oauth2 block)"
            )
        self.introspection_url = introspection_url

    @property
    def oauth2_config_path(self) -> Path:
        return self.directory / OAUTH2_CONF

    def _write_files(self) -> None:
        super()._write_files()
        config = self.config_path.read_text()
        # The base config is rewritten on every start; if its shape ever changes, fail
        # loudly here rather than start a server that silently lacks OAuth2.
        for anchor in (_MECHANISMS_LINE, _PASSWD_PASSDB):
            if config.count(anchor) != 1:
                raise RuntimeError(
                    f"tests/servers/dovecot.py no longer writes {anchor.strip()!r} exactly "
                    f"once in {self.config_path}; update dovecot_oauth.py to match"
                )
        config = config.replace(
            _MECHANISMS_LINE, "auth_mechanisms = plain login xoauth2 oauthbearer\n"
        )
        # Without `mechanisms`, the passwd-file passdb would also be asked to check
        # bearer tokens (as if they were passwords) before the oauth2 one.
        config = config.replace(_PASSWD_PASSDB, _PASSWD_PASSDB + "  mechanisms = plain login\n")
        config += (
            "# Added by tests/servers/dovecot_oauth.py: bearer tokens, checked by introspection.\n"
            "passdb {\n"
            "  driver = oauth2\n"
            "  mechanisms = xoauth2 oauthbearer\n"
            f"  args = {self.oauth2_config_path}\n"
            "}\n"
        )
        self.config_path.write_text(config)
        self.oauth2_config_path.write_text(_oauth2_settings(self.introspection_url))
        if os.geteuid() == 0:
            # The auth process runs as the internal user and reads this file itself.
            stat = self.directory.stat()
            os.chown(self.oauth2_config_path, stat.st_uid, stat.st_gid)


def _oauth2_settings(introspection_url: str) -> str:
    return f"""\
# Written by tests/servers/dovecot_oauth.py; regenerated on every start.
# No tokeninfo_url: every token is checked by POSTing token=<token> to the introspection
# endpoint (RFC 7662), whose answer says whether it is active and whose it is.
introspection_mode = post
introspection_url = {introspection_url}
# The introspection answer's field holding the mailbox name; it must equal the user
# name the client sent in its SASL message, or the login fails.
username_attribute = username
# Only tokens the endpoint calls active sign in; force_introspection makes Dovecot ask
# even when it has cached what it needs.
active_attribute = active
active_value = true
force_introspection = yes
timeout_msecs = 5000
"""
