"""Service URLs from configuration: validated, and never shown with their credentials."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tts_router.errors import ConfigurationError
from tts_router.urls import mask_url, validate_service_url


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("https://me--svc.modal.run/", "https://me--svc.modal.run"),
        ("  https://host/base/path/  ", "https://host/base/path"),
        ("http://[::1]:9/", "http://[::1]:9"),
    ],
)
def test_a_base_url_is_accepted_without_its_trailing_slash(value: str, expected: str) -> None:
    assert validate_service_url(value, setting="QWEN_MODAL_URL") == expected


@pytest.mark.parametrize(
    ("value", "needle"),
    [
        ("not a url", "is not an http(s) URL"),
        ("ftp://host", "is not an http(s) URL"),
        ("host:8000", "is not an http(s) URL"),
        ("", "is not an http(s) URL"),
        ("http://host:99999", "is not a valid URL"),
        ("http://[::1", "is not a valid URL"),
        ("http://:80", "has no host"),
        ("http://host/path#frag", "query string or fragment"),
        ("http://host/?", "query string or fragment"),
    ],
)
def test_what_is_no_base_url_is_a_configuration_error(value: str, needle: str) -> None:
    with pytest.raises(ConfigurationError, match="QWEN_MODAL_URL") as info:
        validate_service_url(value, setting="QWEN_MODAL_URL")
    assert needle in str(info.value) and "base URL" in str(info.value)


@pytest.mark.parametrize(
    "value",
    [
        "http://user:S3CRET-PW@host/",
        "https://S3CRET-PW@host",
        "https://host/?token=S3CRET-PW",
        "https://host/base?modal_key=a&modal_secret=S3CRET-PW#x",
    ],
)
def test_credentials_in_the_url_are_refused_pointing_at_key_and_secret(value: str) -> None:
    with pytest.raises(ConfigurationError) as info:
        validate_service_url(value, setting="[providers.qwen] url")
    message = str(info.value)
    assert "S3CRET-PW" not in message
    assert "[providers.qwen] url" in message
    assert "MODAL_KEY" in message and "MODAL_SECRET" in message
    assert "modal_key" in message and "modal_secret" in message


def test_a_value_that_is_no_url_is_not_repeated() -> None:
    # A secret pasted into the wrong variable must not be echoed back.
    with pytest.raises(ConfigurationError) as info:
        validate_service_url("wk-not-a-url-but-a-secret", setting="ECHO_MODAL_URL")
    assert "wk-not-a-url-but-a-secret" not in str(info.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "http://u:PASS@host/?token=T0K&x=1#frag",
            "http://u:***@host/?token=***&x=***#***",
        ),
        ("https://T0K@host/p", "https://***@host/p"),
        ("https://host:8000/base", "https://host:8000/base"),
        ("http://h?flag&empty=", "http://h?***&empty="),
        (
            "could not reach http://u:PASS@h:9/?token=T0K: connection refused",
            "could not reach http://u:***@h:9/?token=***: connection refused",
        ),
        ("(see https://h/?a=T0K).", "(see https://h/?a=***)."),
        ("host?token=T0K", "host?token=***"),
        ("not a url at all", "not a url at all"),
        ("", ""),
        ("http://[abc", "http://[abc"),
    ],
)
def test_mask_url(value: str, expected: str) -> None:
    assert mask_url(value) == expected


@given(st.text())
def test_mask_url_never_raises_and_is_idempotent(value: str) -> None:
    masked = mask_url(value)
    assert mask_url(masked) == masked


@given(st.text())
def test_validation_raises_only_configuration_errors(value: str) -> None:
    try:
        url = validate_service_url(value, setting="X_URL")
    except ConfigurationError:
        return
    assert validate_service_url(url, setting="X_URL") == url  # a valid URL stays valid
