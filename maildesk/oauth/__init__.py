"""OAuth2 sign-in to mail servers: the ``[[oauth]]`` settings, SASL messages, tokens.

- ``settings`` (PURE): ``OAuthSettings``, the check of one ``[[oauth]]`` table, the
  providers' token and device URLs and default scopes, the https-unless-loopback rule.
- ``sasl`` (PURE): the XOAUTH2 and OAUTHBEARER initial client responses.
- ``tokens`` (I/O): ``TokenSource``, a thread-safe cache of one credential's access token
  that refreshes it before it expires; the refresh-token file; the token endpoint's errors.
- ``assertion`` (I/O): the signed JWT that stands for a client secret when Microsoft is
  given a certificate.
- ``device`` (I/O): the device authorization grant (RFC 8628) that ``maildesk oauth login``
  runs to obtain a refresh token.

This package may import only the standard library, ``maildesk.errors``, ``maildesk.clock``
and provider libraries; ``cryptography`` (already a dependency of maildesk) counts as one,
for the certificate assertion. It knows nothing of the config file, IMAP or SMTP: the
config builds ``OAuthSettings`` and the adapters call ``TokenSource.token()`` and the
``sasl`` functions.
"""
