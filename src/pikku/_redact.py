"""Secrets never reach output: every URL pikku prints, logs or puts in an error goes through :func:`redact_url`."""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

MASK = "***"
# Query parameters that carry credentials in PostgreSQL and Redis URLs (libpq's password, Redis' auth).
_SECRET_PARAMS = re.compile(r"(?i)(?:^|(?<=&))(password|passwd|pass|auth|sslpassword|token)=([^&#]*)")


def redact_url(url: str) -> str:
    """``url`` with the password of its user info and of credential query parameters replaced by ``***``.

    Never raises: a URL too broken to parse is reduced to its scheme, since it may still hold a secret.
    """
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user, sep, _password = userinfo.partition(":")
            netloc = f"{user}{sep}{MASK if sep else ''}@{hostport}"
        query = _SECRET_PARAMS.sub(lambda m: f"{m.group(1)}={MASK}", parts.query)
        if (netloc, query) == (parts.netloc, parts.query):
            return url  # nothing secret: keep it exactly as written
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        scheme = url.partition("://")[0]
        return f"{scheme}://{MASK}" if "://" in url else MASK


__all__ = ["redact_url"]
