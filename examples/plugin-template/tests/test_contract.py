"""The contract every provider passes, run on this one, plus its own behaviour."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from tts_router_example_plugin.provider import SineProvider, SineSettings

from tts_router import ConfigurationError, DesignRequest, Router, Settings, ValidationError
from tts_router.plugins import reset_plugins
from tts_router.testing import ProviderContract


class TestSineContract(ProviderContract):
    @pytest.fixture
    def provider(self) -> SineProvider:
        return SineProvider()


@pytest.fixture
def only_this_plugin(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The router sees this plugin alone, whatever else is installed."""
    monkeypatch.setenv("TTS_ROUTER_PLUGINS", "sine")
    reset_plugins()
    yield
    reset_plugins()


@pytest.mark.usefixtures("only_this_plugin")
def test_the_entry_point_is_found_and_routed_to() -> None:
    router = Router(settings=Settings.load({}))
    assert router.explain("design", "auto").provider == "sine"
    result = router.sync.design(DesignRequest(text="Hello there.", instruct="a low voice"))
    assert result.provider == "sine" and result.sample_rate == 16_000


def test_settings_come_from_the_environment_as_text_or_the_file_as_numbers(
    tmp_path: Path,
) -> None:
    from_env = Settings.load({"SINE_PITCH_HZ": "220"}).provider_settings("sine", SineSettings)
    assert from_env.pitch_hz == 220.0
    provider = SineProvider.from_settings(from_env)
    assert isinstance(provider, SineProvider) and provider.pitch_hz == 220.0
    config = tmp_path / "tts.toml"
    config.write_text("[providers.sine]\npitch_hz = 330\n")
    from_file = Settings.load({"TTS_ROUTER_CONFIG": str(config)})
    assert from_file.provider_settings("sine", SineSettings).pitch_hz == 330.0


def test_bad_settings_name_the_variable_or_the_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="SINE_PITCH_HZ should be less than or equal"):
        Settings.load({"SINE_PITCH_HZ": "5000"}).provider_settings("sine", SineSettings)
    config = tmp_path / "tts.toml"
    config.write_text("[providers.sine]\npitch = 330\n")
    with pytest.raises(ConfigurationError, match=r"unknown key 'pitch'.*did you mean 'pitch_hz'"):
        Settings.load({"TTS_ROUTER_CONFIG": str(config)}).provider_settings("sine", SineSettings)


def test_unknown_options_are_refused() -> None:
    request = DesignRequest(text="Hi.", instruct="calm", options={"temperature": 0.7})
    with pytest.raises(ValidationError) as info:
        SineProvider().sync.design(request)
    assert info.value.code == "invalid_options"
