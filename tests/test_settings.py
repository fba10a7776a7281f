from __future__ import annotations

from pathlib import Path

import pytest

from tts_router import ConfigurationError, Settings, UnsupportedLanguageError


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
    assert settings.setting("qwen", "url") == "https://example.invalid"
    assert settings.setting("qwen", "modal_key", "MODAL_KEY") == "mk-999"


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
