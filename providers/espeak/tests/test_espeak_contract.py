"""The core's provider contract, discovery through the real entry point, and bad input."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from tts_router_espeak.provider import EspeakProvider

from tts_router.errors import AudioValidationError, UnsupportedLanguageError, ValidationError
from tts_router.models import CloneRequest, DesignRequest, VoiceReference
from tts_router.plugins import load_plugins
from tts_router.testing import ProviderContract, make_reference_wav


class TestEspeakContract(ProviderContract):
    @pytest.fixture
    def provider(self) -> EspeakProvider:
        return EspeakProvider()


def test_plugin_is_found_through_the_entry_point() -> None:
    registry = load_plugins(frozenset({"espeak"}))
    assert registry.errors == {}
    assert registry.providers["espeak"] is EspeakProvider


def test_capabilities_declare_what_espeak_is() -> None:
    caps = EspeakProvider().capabilities
    assert caps.operations == {"clone", "design"}
    assert caps.clone_modes == ("approximate",)
    assert caps.quality == "approximate"
    assert caps.sample_rate == 22_050
    assert caps.license is not None and "GPL-3.0" in caps.license
    assert not caps.uses_transcript and caps.clones_without_transcript
    qwen_ten = {"zh", "en", "ja", "ko", "de", "fr", "ru", "pt", "es", "it"}
    assert {"auto"} | qwen_ten <= set(caps.languages)


def test_import_and_construction_load_no_library() -> None:
    # In a fresh interpreter: the plugin module, the provider and its capabilities must not
    # open libespeak-ng (the router builds every provider just to compare capabilities).
    code = (
        "import tts_router_espeak.plugin as p, pathlib\n"
        "from tts_router_espeak import _engine\n"
        "prov = p.EspeakProvider(); prov.capabilities; prov.missing_configuration()\n"
        "maps = pathlib.Path('/proc/self/maps')\n"
        "assert _engine._lib is None\n"
        "assert not maps.exists() or 'libespeak-ng' not in maps.read_text()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.fixture
def reference() -> VoiceReference:
    return VoiceReference(audio=make_reference_wav(), transcript="Hello there, my friend.")


async def test_empty_text_is_typed(reference: VoiceReference) -> None:
    provider = EspeakProvider()
    for call in (
        provider.design(DesignRequest(text=" \n ", instruct="a calm voice")),
        provider.clone(CloneRequest(text="", reference=reference)),
    ):
        with pytest.raises(ValidationError) as info:
            await call
        assert info.value.code == "empty_text"


async def test_empty_description_is_typed() -> None:
    with pytest.raises(ValidationError) as info:
        await EspeakProvider().design(DesignRequest(text="Hello.", instruct="  "))
    assert info.value.code == "empty_instruct"


async def test_unknown_language_is_typed(reference: VoiceReference) -> None:
    provider = EspeakProvider()
    with pytest.raises(UnsupportedLanguageError):
        await provider.design(DesignRequest(text="Hello.", instruct="calm", language="klingon"))
    with pytest.raises(UnsupportedLanguageError):
        await provider.clone(CloneRequest(text="Hello.", reference=reference, language="xx-yy"))


@pytest.mark.parametrize(
    "audio",
    [b"", b"RIFF not really a wave file", b"\x00" * 1000, make_reference_wav(seconds=0.3)],
    ids=["empty", "garbage", "zeros", "too-short"],
)
async def test_unreadable_reference_is_typed(audio: bytes) -> None:
    with pytest.raises(AudioValidationError):
        await EspeakProvider().clone(
            CloneRequest(text="Hello.", reference=VoiceReference(audio=audio), language="en")
        )


async def test_text_with_nothing_to_say_is_typed() -> None:
    with pytest.raises(ValidationError) as info:
        await EspeakProvider().design(DesignRequest(text="...", instruct="a calm voice"))
    assert info.value.code == "empty_text"  # the one code every layer gives for it
    assert info.value.provider == "espeak"


async def test_control_characters_are_not_passed_to_the_library() -> None:
    result = await EspeakProvider().design(
        DesignRequest(text="Hello\x00 world\x01 again.", instruct="a calm voice")
    )
    assert result.duration > 0.5


@pytest.mark.parametrize(
    ("data_path", "code"),
    [("/tmp/" + "x" * 200, "espeak_data_path"), ("/nonexistent-espeak-data", "espeak_init_failed")],
    ids=["too-long", "missing"],
)
def test_bad_data_path_is_a_configuration_error(data_path: str, code: str) -> None:
    # In a fresh interpreter: the library's state is global and initialised once per process.
    script = (
        "from tts_router.errors import ConfigurationError\n"
        "from tts_router.models import DesignRequest\n"
        "from tts_router_espeak.provider import EspeakProvider\n"
        "p = EspeakProvider()\n"
        f"assert (p.missing_configuration() is not None) == {code == 'espeak_data_path'}\n"
        "for _ in range(2):\n"
        "    try:\n"
        "        p.sync.design(DesignRequest(text='Hello.', instruct='calm'))\n"
        "    except ConfigurationError as exc:\n"
        f"        assert exc.code == {code!r} and exc.provider == 'espeak', exc\n"
        "    else:\n"
        "        raise AssertionError('no error')\n"
    )
    env = {**os.environ, "TTS_ROUTER_ESPEAK_DATA": data_path}
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60, env=env)
