from __future__ import annotations

from pathlib import Path

import pytest

from tts_router import ConfigurationError, ProviderSettings, Settings, UnsupportedLanguageError
from tts_router.remote import RemoteSettings


class UrlSettings(RemoteSettings):
    """A provider's model with a URL (the shape of Qwen's and Echo's)."""

    url: str | None = None


def _toml(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "tts.toml"
    path.write_text(text)
    return {"TTS_ROUTER_CONFIG": str(path)}


def test_defaults() -> None:
    settings = Settings.load({})
    assert settings.provider == "auto" and settings.rules == () and settings.source is None


def test_toml_then_environment(tmp_path: Path) -> None:
    env = _toml(
        tmp_path,
        """
provider = "qwen"
allow_approximate_fallback = true

[[rules]]
language = "ja-JP"
provider = "espeak"

[providers.qwen]
url = "https://example.invalid"
modal_secret = "wk-123456"
""",
    )
    settings = Settings.load({**env, "TTS_PROVIDER": "echo", "MODAL_KEY": "mk-999"})
    assert settings.provider == "echo"  # the environment wins
    assert settings.rules[0].language == "ja" and settings.rules[0].matches("clone", "ja")
    assert settings.allow_approximate_fallback
    qwen = settings.provider_settings("qwen", UrlSettings)
    assert qwen.url == "https://example.invalid"
    assert qwen.modal_key is not None and qwen.modal_key.get_secret_value() == "mk-999"


def test_secrets_are_masked_everywhere(tmp_path: Path) -> None:
    env = _toml(tmp_path, '[providers.qwen]\nmodal_secret = "wk-123456"\napi_token = "tok-42"\n')
    settings = Settings.load({**env, "MODAL_SECRET": "env-secret-77"})
    for text in (repr(settings), str(settings), str(settings.describe())):
        assert "wk-123456" not in text and "tok-42" not in text and "env-secret-77" not in text
    assert settings.describe()["providers"]["qwen"]["modal_secret"] == "***"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TTS_ROUTER_CONFIG": "/nonexistent/tts.toml"}, "does not exist"),
        ({"TTS_ROUTER_CONFIG": "/"}, "cannot be read: Is a directory"),
        ({"TTS_ROUTER_ALLOW_APPROXIMATE_FALLBACK": "maybe"}, "must be 1 or 0"),
    ],
)
def test_bad_configuration_is_typed(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.load(env)


def test_invalid_toml_values_name_the_key_not_the_value(tmp_path: Path) -> None:
    env = _toml(tmp_path, 'provider = 42\n[[rules]]\nprovider = "x"\noperation = "sing-secret"\n')
    with pytest.raises(ConfigurationError) as info:
        Settings.load(env)
    assert "rules.0.operation" in str(info.value) and "sing-secret" not in str(info.value)


def test_broken_toml_and_unknown_rule_language(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="not valid TOML"):
        Settings.load(_toml(tmp_path, "provider = "))
    with pytest.raises(UnsupportedLanguageError):
        Settings.load(_toml(tmp_path, '[[rules]]\nprovider = "x"\nlanguage = "elvish"\n'))


def test_provider_ids_are_case_insensitive(tmp_path: Path) -> None:
    env = _toml(tmp_path, '[[rules]]\nprovider = " QWEN "\n[providers.Qwen]\nurl = "http://h"\n')
    settings = Settings.load({**env, "TTS_PROVIDER": "AUTO"})
    assert settings.provider == "auto"
    assert settings.rules[0].provider == "qwen"
    assert settings.provider_settings("qwen", UrlSettings).url == "http://h"
    assert settings.provider_settings("QWEN", UrlSettings).url == "http://h"
    assert Settings.load({"TTS_PROVIDER": "Espeak"}).provider == "espeak"
    assert Settings.load({"TTS_PROVIDER": "  "}).provider == "auto"


def test_sections_differing_only_in_case_are_refused(tmp_path: Path) -> None:
    env = _toml(tmp_path, '[providers.qwen]\nurl = "a"\n[providers.QWEN]\nurl = "b"\n')
    with pytest.raises(ConfigurationError, match=r"repeats a section"):
        Settings.load(env)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('provders = "x"\n', "unknown key 'provders'; known: provider,"),
        ('[[rules]]\nprovider = "x"\nlangauge = "en"\n', "unknown key 'rules.0.langauge'"),
        ('env = "x"\n', "unknown key 'env'"),
    ],
)
def test_unknown_keys_are_named_with_the_file_and_the_known_ones(
    tmp_path: Path, text: str, needle: str
) -> None:
    env = _toml(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        Settings.load(env)
    assert needle in str(info.value) and env["TTS_ROUTER_CONFIG"] in str(info.value)


def test_an_invalid_value_names_the_variable_or_the_toml_key(tmp_path: Path) -> None:
    env = _toml(tmp_path, '[providers.qwen]\nmax_request_chars = "many"\n')
    with pytest.raises(ConfigurationError) as info:
        Settings.load(env).provider_settings("qwen", UrlSettings)
    assert str(info.value) == (
        f"[providers.qwen] max_request_chars in {env['TTS_ROUTER_CONFIG']} should be a valid "
        "integer, unable to parse string as an integer"
    )
    assert "many" not in str(info.value)


def test_describe_masks_credentials_inside_urls(tmp_path: Path) -> None:
    env = _toml(
        tmp_path,
        '[providers.qwen]\nurl = "http://u:PASSW0RD@host/?token=T0KEN"\n'
        '[providers.echo]\nurl = "https://echo.example/base"\n',
    )
    settings = Settings.load(env)
    described = settings.describe()
    assert described["providers"]["qwen"]["url"] == "http://u:***@host/?token=***"
    assert described["providers"]["echo"]["url"] == "https://echo.example/base"
    for text in (repr(settings), str(described)):
        assert "PASSW0RD" not in text and "T0KEN" not in text


@pytest.mark.parametrize("value", ['"abc"', "0", "-1", "true"])
def test_a_provider_timeout_must_be_a_positive_number(tmp_path: Path, value: str) -> None:
    env = _toml(tmp_path, f"[providers.espeak]\ntimeout = {value}\n")
    with pytest.raises(
        ConfigurationError, match=r"\[providers.espeak\] timeout must be a positive"
    ):
        Settings.load(env)
    settings = Settings.load(_toml(tmp_path, "[providers.espeak]\ntimeout = 2.5\n"))
    assert settings.provider_settings("espeak", ProviderSettings).timeout == 2.5
