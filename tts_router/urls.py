"""Service URLs from configuration: validated once, and never printed with credentials.

A service URL is a base URL: ``http`` or ``https``, a host, maybe a port and a path, and nothing
else. Credentials do not belong in it: a password in ``user:password@host`` or a ``?token=`` in
the query string ends up in logs, in ``tts-router doctor``'s output and (for the query) in the
service's access log, and a query string also breaks joining the base URL with ``/clone``.
Modal proxy-auth credentials go in ``MODAL_KEY``/``MODAL_SECRET`` (or ``modal_key``/
``modal_secret`` under ``[providers.<id>]``), which are sent as headers.

:func:`validate_service_url` refuses anything else with a :class:`ConfigurationError` that names
the setting and never repeats the secret part; :func:`mask_url` hides credentials in any string
that may hold a URL, for messages and dumps.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from .errors import ConfigurationError

__all__ = ["mask_url", "validate_service_url"]

MASK = "***"

_CREDENTIALS_FIX = (
    "put the Modal proxy-auth token in MODAL_KEY and MODAL_SECRET (or modal_key and "
    "modal_secret under [providers.<id>]), which are sent as headers"
)
# A URL inside any text: scheme://, then everything up to whitespace or a quote.
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]*")


def mask_url(value: str) -> str:
    """``value`` with every URL's password, query values and fragment replaced by ``***``.

    ``https://user:pw@host/p?token=t&x=1#f`` becomes ``https://user:***@host/p?token=***&x=***#***``;
    a user name alone (``https://TOKEN@host``) is masked too, as it is often a token. Text around
    a URL is kept; a value without ``scheme://`` and without spaces is masked as one URL. Never
    raises, whatever the input.
    """
    if not isinstance(value, str):
        return value
    if "://" in value:
        return _URL.sub(_mask_match, value)
    return value if any(ch.isspace() for ch in value) else _mask_one(value)


def _mask_match(match: re.Match[str]) -> str:
    # Punctuation ending a sentence ("...:9/?token=x: connection refused") is not the URL's.
    url = match[0]
    core = url.rstrip(":,.;)]")
    return _mask_one(core) + url[len(core) :]


def _mask_one(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    rest, hash_mark, fragment = rest.partition("#")
    rest, question, query = rest.partition("?")
    authority, slash, path = rest.partition("/")
    userinfo, at, host = authority.rpartition("@")
    if at:
        user, colon, _password = userinfo.partition(":")
        authority = f"{user}:{MASK}@{host}" if colon and user else f"{MASK}@{host}"
    masked = f"{scheme}{sep}{authority}{slash}{path}"
    if question:
        masked += "?" + "&".join(_mask_pair(pair) for pair in query.split("&"))
    if hash_mark:
        masked += "#" + (MASK if fragment else "")
    return masked


def _mask_pair(pair: str) -> str:
    name, eq, value = pair.partition("=")
    if eq:
        return f"{name}={MASK}" if value else pair
    return MASK if name else pair


def validate_service_url(value: str, *, setting: str) -> str:
    """A service's base URL, checked: http(s), a host, no credentials, query or fragment.

    Returns it without surrounding spaces or a trailing slash. ``setting`` names where the
    value came from (``QWEN_MODAL_URL``, ``[providers.qwen] url``) for the error message, which
    shows the value only with its secret parts masked (or not at all when it is no URL).
    """
    text = str(value).strip()
    fix = (
        "set it to the service's base URL, e.g. https://you--svc.modal.run or http://127.0.0.1:8000"
    )
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise ConfigurationError(f"{setting} is not a valid URL (host or port); {fix}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        # Repeat nothing of the value: a mistyped setting may hold a secret.
        raise ConfigurationError(f"{setting} is not an http(s) URL; {fix}")
    if "@" in parts.netloc:
        raise ConfigurationError(
            f"{setting} has credentials in the URL ({mask_url(text)}); remove them from the URL "
            f"and {_CREDENTIALS_FIX}"
        )
    if not parts.hostname:
        raise ConfigurationError(f"{setting} has no host; {fix}")
    if parts.query or parts.fragment or "?" in text or "#" in text:
        raise ConfigurationError(
            f"{setting} has a query string or fragment ({mask_url(text)}); a service URL is a "
            f"base URL, and a token there would reach logs: remove it and {_CREDENTIALS_FIX}"
        )
    return text.rstrip("/")
