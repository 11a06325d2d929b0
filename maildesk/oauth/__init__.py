"""OAuth2 sign-in to mail servers: the ``[[oauth]]`` settings, SASL messages, tokens.

- ``settings`` (PURE): ``OAuthSettings``, the check of one ``[[oauth]]`` table, the
  providers' token and device URLs and default scopes, the https-unless-loopback rule.
- ``sasl`` (PURE): the XOAUTH2 and OAUTHBEARER initial client responses.
- ``endpoint`` (I/O): one token request through Authlib's OAuth2 client, and what the
  provider's refusals mean.
- ``tokens`` (I/O): ``TokenSource``, a thread-safe cache of one credential's access token
  that refreshes it before it expires; the refresh-token file.
- ``assertion`` (I/O): the signed JWT that stands for a client secret when Microsoft is
  given a certificate.
- ``service_account`` (I/O): a Google service account's JSON key and the signed assertion
  (RFC 7523) that asks for a token acting as one mailbox (domain-wide delegation).
- ``device`` (I/O): the device authorization grant (RFC 8628) that ``maildesk oauth login``
  runs to obtain a refresh token.

It knows nothing of the config file, IMAP or SMTP: the config builds ``OAuthSettings`` and
the adapters call ``TokenSource.token(username)`` and the ``sasl`` functions. Besides the
standard library it uses Authlib and requests (the token requests), joserfc (the key type
Authlib signs a service account's assertion with) and cryptography (the certificate
assertion); tests/oauth checks that list.

Pure: settings, sasl
May import: maildesk.errors, maildesk.clock.
"""
