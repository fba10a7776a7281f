"""Typed provider settings: a provider's model names its TOML keys and environment variables;
the router validates each section once and hands the model to ``from_settings``.

The providers here are built the way a third-party plugin's are: registered classes, built by
the router from ``Settings.load`` (environment + a real TOML file).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar, Literal

import pytest
from pydantic import SecretStr

from tts_router import (
    ConfigurationError,
    Provider,
    ProviderSettings,
    Router,
    ServiceURL,
    Settings,
    setting,
)
from tts_router.plugins import PluginRegistry
from tts_router.testing import FakeProvider

SECRET = "tok-SEKRIT-0123456789"


class ToneSettings(ProviderSettings):
    """A third party's settings: one field of each kind."""

    pitch: float = setting(180.0, env="TONE_PITCH", gt=0, description="Base note, Hz.")
    voices: int = setting(1, env="TONE_VOICES", ge=1)
    loud: bool = setting(False, env="TONE_LOUD")
    mode: Literal["sine", "square"] = setting("sine", env="TONE_MODE")
    url: ServiceURL | None = setting(env="TONE_URL")
    api_token: SecretStr | None = setting(env="TONE_TOKEN", min_length=12)
    note_password: str | None = None  # not SecretStr: still masked in reprs by its name


class ToneProvider(FakeProvider):
    """A plugin's provider that keeps the settings it was built from."""

    id = "tone"  # type: ignore[assignment]
    settings_model: ClassVar[type[ProviderSettings]] = ToneSettings

    def __init__(self, settings: ToneSettings | None = None) -> None:
        super().__init__(provider_id=type(self).id)
        self.settings = settings or ToneSettings()

    @classmethod
    def from_settings(cls, settings: ToneSettings) -> Provider:
        return cls(settings)


class Plain(FakeProvider):
    """A provider that declares no settings model: only ``timeout`` is accepted."""

    id = "plain"  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__(provider_id="plain")


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> None:
    registry = PluginRegistry()
    registry.register(ToneProvider)
    registry.register(Plain)
    monkeypatch.setattr("tts_router.plugins.get_plugins", lambda: registry)


def _router(tmp_path: Path, toml: str = "", **env: str) -> Router:
    path = tmp_path / "tts.toml"
    path.write_text(toml)
    return Router(settings=Settings.load({"TTS_ROUTER_CONFIG": str(path), **env}))


def _tone(router: Router, name: str = "tone") -> ToneSettings:
    provider = router.providers[name]
    assert isinstance(provider, ToneProvider)
    return provider.settings


@pytest.mark.usefixtures("registered")
def test_environment_strings_arrive_typed_and_win_over_the_file(tmp_path: Path) -> None:
    toml = '[providers.tone]\npitch = 200\nvoices = 3\nmode = "square"\ntimeout = 2.5\n'
    router = _router(
        tmp_path,
        toml,
        TONE_PITCH="220.5",
        TONE_VOICES="4",
        TONE_LOUD="true",
        TONE_URL="http://127.0.0.1:8000/",
        TONE_MODE="",  # empty: not set, so the file's value stands
    )
    settings = _tone(router)
    assert (settings.pitch, settings.voices, settings.loud) == (220.5, 4, True)
    assert (settings.mode, settings.url) == ("square", "http://127.0.0.1:8000")
    assert router.providers["tone"].timeout == 2.5  # the common key, typed the same way
    toml = '[providers.tone]\npitch = 330\nloud = 1\nurl = ""\n'  # "": unset, as in the env
    from_file = _tone(_router(tmp_path, toml))
    assert (from_file.pitch, from_file.loud, from_file.voices) == (330.0, True, 1)
    assert from_file.url is None


@pytest.mark.usefixtures("registered")
def test_an_unknown_key_names_the_key_the_provider_and_the_closest_key(tmp_path: Path) -> None:
    router = _router(tmp_path, "[providers.tone]\npich = 200\nzzz = 1\n")
    reason = router.broken["tone"]
    config = tmp_path / "tts.toml"
    assert reason.startswith(
        f"ConfigurationError: [providers.tone] in {config} has unknown key 'pich': "
        "did you mean 'pitch'? tone reads: api_token, loud, mode,"
    )
    assert "unknown key 'zzz': tone reads:" in reason  # nothing close: the keys it reads
    assert "plain" in router.providers  # the others keep working
    plain = _router(tmp_path, "[providers.plain]\ntimeout = 3\ntimout_s = 4\n")
    hint = "unknown key 'timout_s': did you mean 'timeout'? plain reads: timeout"
    assert hint in plain.broken["plain"]


@pytest.mark.usefixtures("registered")
def test_an_invalid_value_names_its_variable_or_key_and_never_the_value(tmp_path: Path) -> None:
    short = "SEKRIT-9"
    router = _router(tmp_path, TONE_TOKEN=short, TONE_VOICES="many", TONE_PITCH="-1")
    reason = router.broken["tone"]
    assert "TONE_TOKEN should have at least 12 items" in reason
    assert "TONE_VOICES should be a valid integer" in reason
    assert "TONE_PITCH should be greater than 0" in reason
    assert short not in reason and "many" not in reason
    url = _router(tmp_path, TONE_URL=f"http://user:{SECRET}@host").broken["tone"]
    assert "TONE_URL has credentials in the URL" in url and SECRET not in url
    typed = _router(tmp_path, f'[providers.tone]\napi_token = 12345678901234\nmode = "{SECRET}"')
    reason = typed.broken["tone"]
    where = f"[providers.tone] api_token in {tmp_path / 'tts.toml'}"
    assert f"{where} should be a valid string" in reason
    assert "[providers.tone] mode in" in reason and SECRET not in reason
    assert "12345678901234" not in reason


@pytest.mark.usefixtures("registered")
def test_secrets_are_masked_in_the_model(tmp_path: Path) -> None:
    toml = f'[providers.tone]\nnote_password = "{SECRET}"\n'
    settings = _tone(_router(tmp_path, toml, TONE_TOKEN=SECRET))
    assert settings.api_token is not None and settings.api_token.get_secret_value() == SECRET
    assert settings.note_password == SECRET
    for text in (repr(settings), str(settings)):
        assert SECRET not in text and "note_password='***'" in text


@pytest.mark.usefixtures("registered")
def test_a_named_instance_reads_its_own_typed_section_and_no_variable(tmp_path: Path) -> None:
    toml = """
[providers.tone]
voices = 2

[providers.tone-low]
type = "tone"
pitch = 90
timeout = 4

[providers.tone-bad]
type = "tone"
pitch = "low"
"""
    router = _router(tmp_path, toml, TONE_PITCH="440", TONE_LOUD="1")
    default, low = _tone(router), _tone(router, "tone-low")
    assert (default.pitch, default.voices, default.loud) == (440.0, 2, True)
    assert (low.pitch, low.voices, low.loud) == (90.0, 1, False)  # no variable reaches it
    assert router.providers["tone-low"].timeout == 4 and router.providers["tone"].timeout is None
    bad = router.broken["tone-bad"]
    assert bad.startswith("ConfigurationError: [providers.tone-bad] pitch in ")
    assert "should be a valid number" in bad


def test_the_model_alone_reads_a_section_and_an_environment() -> None:
    """What the router calls, usable without it: ``ProviderSettings.load``."""
    settings = ToneSettings.load({"pitch": 100}, {"TONE_VOICES": "2"}, name="tone")
    assert (settings.pitch, settings.voices) == (100.0, 2)
    variables = ToneSettings.variables()
    assert variables["pitch"] == "TONE_PITCH" and "timeout" not in variables
    with pytest.raises(ConfigurationError, match=r"\[providers.x\] has unknown key 'pitch'"):
        ProviderSettings.load({"pitch": 1}, name="x")
