"""`tts-router doctor`, `providers` and `plugins`: every misconfiguration listed with its fix.

Run in-process through ``tts_router.cli.main`` with the environment a user would set; broken
plugins are the real entry points of tests/plugin_fixtures (the ``fixture_plugins`` fixture).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
from core_support.latency_service import free_port

from tts_router import PluginError, Provider, hookimpl
from tts_router.cli import main
from tts_router.plugins import PluginRegistry, load_plugins, reset_plugins

pytestmark = pytest.mark.usefixtures("_clean_provider_env")

PROVIDER_VARIABLES = (
    "QWEN_MODAL_URL",
    "QWEN_MODAL_ENDPOINT",
    "QWEN_MODAL_DESIGN_URL",
    "QWEN_BACKEND",
    "ECHO_MODAL_URL",
    "ECHO_BACKEND",
    "MODAL_KEY",
    "MODAL_SECRET",
    "TTS_ROUTER_ALLOW_APPROXIMATE_FALLBACK",
)
FIXTURES_BROKEN_AT_EVERY_STAGE = (
    "fixture_good,fixture_broken,fixture_hook_raises,fixture_registers_nothing,"
    "fixture_ctor_raises,fixture_caps_raise,fixture_bad_caps,fixture_health_raises,"
    "fixture_available_raises"
)


@pytest.fixture
def _clean_provider_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PROVIDER_VARIABLES:
        monkeypatch.delenv(name, raising=False)


Cli = Callable[..., tuple[int, str, str]]


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """``cli(*args, **env)``: the CLI run in-process with ``env`` set; (code, stdout, stderr)."""

    def run(*args: str, **env: str) -> tuple[int, str, str]:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        reset_plugins()  # each run is a fresh process's: plugins load again
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return run


def _toml(tmp_path: Path, text: str) -> str:
    path = tmp_path / "tts.toml"
    path.write_text(text)
    return str(path)


def _problems(out: str) -> list[str]:
    return [
        line.removeprefix("problem: ") for line in out.splitlines() if line.startswith("problem:")
    ]


# -- doctor ----------------------------------------------------------------------------------


def test_doctor_exits_0_when_everything_is_fine(cli: Cli) -> None:
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak")
    assert code == 0, out
    assert "  espeak: ok" in out and out.rstrip().endswith("no problems found")


def test_doctor_flags_an_unknown_tts_provider(cli: Cli) -> None:
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak", TTS_PROVIDER="nonexistent")
    assert code == 1
    assert "TTS_PROVIDER names 'nonexistent', which is not installed" in _problems(out)
    assert (
        "fix: installed: espeak; install the plugin that provides it, or set TTS_PROVIDER=auto"
        in out
    )


def test_doctor_flags_the_chosen_provider_unconfigured(cli: Cli) -> None:
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak,qwen", TTS_PROVIDER="QWEN")
    assert code == 1
    problem = "TTS_PROVIDER chooses 'qwen', which is not configured; every request would fail"
    assert problem in _problems(out)
    assert "fix: set QWEN_MODAL_URL" in out


def test_an_unconfigured_provider_under_auto_is_no_problem(cli: Cli) -> None:
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak,qwen")
    assert code == 0, out
    assert "  qwen: not configured: set QWEN_MODAL_URL" in out


def test_doctor_flags_rules_sections_and_keys_naming_nothing(cli: Cli, tmp_path: Path) -> None:
    config = _toml(
        tmp_path,
        """
[[rules]]
language = "ja"
provider = "nope"

[[rules]]
provider = "ESPEAK"

[providers.qwen]
urll = "http://host"
timeout = 30

[providers.espeak]
timeout = 5

[providers.espek]
x = 1
""",
    )
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak,qwen", TTS_ROUTER_CONFIG=config)
    assert code == 1
    problems = _problems(out)
    assert "[[rules]] #1 (provider = 'nope') names 'nope', which is not installed" in problems
    assert not any("#2" in p for p in problems)  # a rule for an installed provider (any case)
    assert f"[providers.qwen] in {config} has unknown key 'urll'" in problems
    assert "fix: did you mean 'url'? qwen reads: " in out
    assert (
        f"[providers.espek] in {config} configures 'espek', which is not an installed provider"
        in problems
    )
    assert "fix: did you mean [providers.espeak]?" in out
    assert not any("timeout" in p for p in problems)  # every provider accepts timeout
    assert len(problems) == 3, problems


@pytest.mark.parametrize(
    ("env", "needle"),
    [
        ({"QWEN_MODAL_URL": "not a url"}, "QWEN_MODAL_URL is not an http(s) URL"),
        ({"QWEN_MODAL_DESIGN_URL": "ftp://host"}, "QWEN_MODAL_DESIGN_URL is not an http(s) URL"),
        ({"QWEN_MODAL_ENDPOINT": "http://h?token=SEKRIT"}, "QWEN_MODAL_ENDPOINT has a query"),
        ({"ECHO_MODAL_URL": "http://u:SEKRIT@h"}, "ECHO_MODAL_URL has credentials in the URL"),
    ],
)
def test_doctor_flags_an_invalid_url_as_a_broken_provider(
    cli: Cli, env: dict[str, str], needle: str
) -> None:
    code, out, err = cli("doctor", TTS_ROUTER_PLUGINS="espeak,qwen,echo", **env)
    assert code == 1
    provider = "echo" if "ECHO" in needle else "qwen"
    assert f"  {provider}: broken: ConfigurationError: {needle}" in out
    assert any(
        p.startswith(f"{provider} is broken: ConfigurationError: {needle}") for p in _problems(out)
    )
    assert "SEKRIT" not in out + err


def test_doctor_never_prints_credentials_inside_urls(cli: Cli, tmp_path: Path) -> None:
    config = _toml(
        tmp_path,
        '[providers.qwen]\nurl = "http://u:PASSW0RD@host/?token=T0KEN"\n'
        'modal_secret = "wk-S3CRET"\n',
    )
    code, out, err = cli("doctor", TTS_ROUTER_PLUGINS="espeak,qwen", TTS_ROUTER_CONFIG=config)
    assert code == 1
    for secret in ("PASSW0RD", "T0KEN", "wk-S3CRET"):
        assert secret not in out + err
    assert '"url": "http://u:***@host/?token=***"' in out and '"modal_secret": "***"' in out
    assert f"[providers.qwen] url in {config} has credentials in the URL" in out
    assert "MODAL_KEY and MODAL_SECRET" in out


def test_doctor_shows_the_allow_list_and_what_it_filtered(cli: Cli) -> None:
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak")
    assert code == 0
    line = next(line for line in out.splitlines() if line.startswith("plugins:"))
    assert line.startswith("plugins: TTS_ROUTER_PLUGINS=espeak; filtered out: ")
    assert "qwen" in line and "echo" in line

    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak,espek")
    assert code == 1
    assert "TTS_ROUTER_PLUGINS names 'espek', which is not an installed entry point" in _problems(
        out
    )

    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak", TTS_PROVIDER="qwen")
    assert code == 1
    assert (
        "TTS_PROVIDER names 'qwen', whose plugin is filtered by TTS_ROUTER_PLUGINS=espeak"
        in _problems(out)
    )
    assert "fix: add qwen to TTS_ROUTER_PLUGINS, or unset it" in out


def test_doctor_without_an_allow_list_says_so(cli: Cli) -> None:
    _, out, _ = cli("doctor")
    assert "plugins: every installed entry point (TTS_ROUTER_PLUGINS is not set)" in out


def test_doctor_shows_a_dead_url_and_why(cli: Cli) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # a closed port: nothing listens there
    code, out, _ = cli("doctor", TTS_ROUTER_PLUGINS="espeak,qwen", QWEN_MODAL_URL=url)
    assert code == 1
    line = next(line for line in out.splitlines() if line.startswith("  qwen: "))
    assert line.startswith("  qwen: FAILING") and url.removeprefix("http://") in line
    assert "refused" in line.lower() or "reach" in line.lower(), line
    assert any(p.startswith("qwen is configured but failing") for p in _problems(out))


def test_doctor_reports_an_invalid_configuration_file(cli: Cli, tmp_path: Path) -> None:
    config = _toml(tmp_path, "provider = 42\n")
    code, out, _ = cli("doctor", TTS_ROUTER_CONFIG=config)
    assert code == 1
    assert _problems(out) == [
        f"invalid configuration in {config}: provider: Input should be a valid string"
    ]


def test_doctor_lists_every_broken_plugin_and_provider(cli: Cli, fixture_plugins: object) -> None:
    code, out, err = cli("doctor", TTS_ROUTER_PLUGINS=FIXTURES_BROKEN_AT_EVERY_STAGE)
    assert code == 1 and "Traceback" not in out + err
    assert "  entry-point-fake: ok" in out
    assert "  ctor-raises: broken: RuntimeError: boom" in out
    assert "  caps-raise: broken: RuntimeError: caps-raise fails in capabilities" in out
    assert "  bad-caps: broken: invalid capabilities" in out
    assert "  health-raises: broken: RuntimeError: health-raises fails in health()" in out
    assert "  available-raises: broken: RuntimeError: available-raises fails" in out
    assert "  fixture_broken: broken: ImportError: fixture_broken is broken on purpose" in out
    assert "  fixture_hook_raises: broken: RuntimeError" in out
    problems = _problems(out)
    for name in (
        "ctor-raises",
        "caps-raise",
        "bad-caps",
        "health-raises",
        "available-raises",
        "fixture_broken",
        "fixture_hook_raises",
    ):
        assert any(p.startswith(f"{name} is broken: ") for p in problems), name
    assert any(
        p.startswith(
            "plugin fixture_registers_nothing (tts-router-plugin-fixtures 0.0.1) registered nothing"
        )
        for p in problems
    )


# -- providers and plugins -------------------------------------------------------------------


def test_providers_shows_broken_providers_and_plugins(cli: Cli, fixture_plugins: object) -> None:
    code, out, err = cli("providers", TTS_ROUTER_PLUGINS=FIXTURES_BROKEN_AT_EVERY_STAGE)
    assert code == 0 and "Traceback" not in out + err
    blocks = {block.splitlines()[0]: block for block in _blocks(out)}
    assert "status:     ready" in blocks["entry-point-fake 0.0.1"]
    assert "status:     broken: RuntimeError: boom" in blocks["ctor-raises 0.0.1"]
    assert "status:     broken: RuntimeError: caps-raise" in blocks["caps-raise 0.0.1"]
    assert "status:     broken: invalid capabilities" in blocks["bad-caps 0.0.1"]
    assert "status:     broken: RuntimeError: available-raises" in blocks["available-raises 0.0.1"]
    broken_plugin = blocks["plugin fixture_broken (tts-router-plugin-fixtures 0.0.1)"]
    assert "status:     broken: ImportError: fixture_broken is broken on purpose" in broken_plugin
    nothing = blocks["plugin fixture_registers_nothing (tts-router-plugin-fixtures 0.0.1)"]
    assert "status:     registered nothing" in nothing


def _blocks(out: str) -> list[str]:
    blocks: list[str] = []
    for line in out.splitlines():
        if line.startswith(" ") and blocks:
            blocks[-1] += "\n" + line
        else:
            blocks.append(line)
    return blocks


def test_providers_says_which_were_filtered(cli: Cli) -> None:
    code, out, _ = cli("providers", TTS_ROUTER_PLUGINS="espeak")
    assert code == 0
    filtered = next(line for line in out.splitlines() if line.startswith("filtered by"))
    assert filtered.startswith("filtered by TTS_ROUTER_PLUGINS=espeak: ") and "qwen" in filtered


def test_plugins_lists_each_entry_point_its_providers_and_status(
    cli: Cli, fixture_plugins: object
) -> None:
    code, out, _ = cli("plugins", TTS_ROUTER_PLUGINS=FIXTURES_BROKEN_AT_EVERY_STAGE)
    assert code == 1
    rows = {line.split()[0]: line for line in out.splitlines()[1:] if line.startswith("fixture_")}
    assert out.splitlines()[0].split() == ["ENTRY", "POINT", "DISTRIBUTION", "PROVIDERS", "STATUS"]
    assert rows["fixture_good"].split()[1:5] == [
        "tts-router-plugin-fixtures",
        "0.0.1",
        "entry-point-fake",
        "ok",
    ]
    assert rows["fixture_broken"].endswith(
        "broken: ImportError: fixture_broken is broken on purpose"
    )
    assert "registered nothing" in rows["fixture_registers_nothing"]
    assert rows["fixture_ctor_raises"].endswith("broken: ctor-raises: RuntimeError: boom")
    assert "broken: bad-caps: invalid capabilities" in rows["fixture_bad_caps"]
    assert "broken: RuntimeError" in rows["fixture_hook_raises"]
    assert "broken: available-raises: RuntimeError" in rows["fixture_available_raises"]
    assert rows["fixture_health_raises"].endswith(" ok")  # health is checked by doctor (I/O)
    assert "TTS_ROUTER_PLUGINS=" in out and "filtered out: " in out


def test_plugins_exits_0_when_every_entry_point_is_ok(cli: Cli, fixture_plugins: object) -> None:
    code, out, _ = cli("plugins", TTS_ROUTER_PLUGINS="fixture_good,espeak")
    assert code == 0, out
    code, out, _ = cli("plugins", TTS_ROUTER_PLUGINS="fixture_registers_nothing")
    assert (
        code == 1
        and "registered nothing: its register_providers hook registered no provider" in out
    )


# -- what the registry records for these commands ---------------------------------------------


def test_the_registry_records_entry_points_and_what_the_allow_list_left_out(
    fixture_plugins: object,
) -> None:
    registry = load_plugins(frozenset({"fixture_good", "fixture_registers_nothing", "nope"}))
    good = registry.entry_points["fixture_good"]
    assert (good.distribution, good.version) == ("tts-router-plugin-fixtures", "0.0.1")
    assert good.provider_ids == ("entry-point-fake",) and good.status == "ok"
    assert good.value == "tts_router_plugin_fixtures.good"
    assert registry.entry_point_of("entry-point-fake") is good
    nothing = registry.entry_points["fixture_registers_nothing"]
    assert (
        nothing.status == "registered nothing: its register_providers hook registered no provider"
    )
    assert {"espeak", "qwen", "echo", "fixture_broken"} <= set(registry.filtered)
    assert registry.unknown_allowed == ("nope",)


def test_an_entry_point_without_the_hook_is_told_so(monkeypatch: pytest.MonkeyPatch) -> None:
    module = types.ModuleType("no_hook")
    module.register_provider = lambda register: None  # type: ignore[attr-defined]  # misspelt

    class FakeEntryPoint:
        name = "no_hook"
        value = "no_hook"
        dist = None

        def load(self) -> types.ModuleType:
            return module

    monkeypatch.setattr("tts_router.plugins.entry_points", lambda group: [FakeEntryPoint()])
    info = load_plugins(None).entry_points["no_hook"]
    assert info.status == "registered nothing: it has no @hookimpl register_providers"
    assert info.distribution == "" and info.version == ""


@pytest.mark.parametrize(("provider_id", "needle"), [("Mine", "lowercase"), ("auto", "reserved")])
def test_provider_ids_must_be_usable_case_insensitively(provider_id: str, needle: str) -> None:
    cls = type("Mine", (Provider,), {"id": provider_id})
    with pytest.raises(PluginError, match=needle):
        PluginRegistry().register(cls)


def test_a_plugin_reusing_an_id_registers_none_of_its_classes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    first = type("First", (Provider,), {"id": "same"})
    second = type("Second", (Provider,), {"id": "same"})
    extra = type("Extra", (Provider,), {"id": "extra"})

    def plugin(name: str, *classes: type[Provider]) -> object:
        module = types.ModuleType(name)

        @hookimpl
        def register_providers(register: Callable[[type[Provider]], None]) -> None:
            for cls in classes:
                register(cls)

        module.register_providers = register_providers  # type: ignore[attr-defined]
        return types.SimpleNamespace(name=name, value=name, dist=None, load=lambda: module)

    entry_points = [plugin("one", first), plugin("two", extra, second)]
    monkeypatch.setattr("tts_router.plugins.entry_points", lambda group: entry_points)
    registry = load_plugins(None)
    assert set(registry.providers) == {"same"} and registry.providers["same"] is first
    assert registry.entry_points["two"].status.startswith("broken: PluginError: provider id 'same'")


def test_the_allow_list_ignores_case(cli: Cli) -> None:
    code, out, _ = cli("plugins", TTS_ROUTER_PLUGINS=" ESPEAK ")
    assert code == 0, out
    assert out.splitlines()[1].split()[:2] == ["espeak", "tts-router-espeak"]
    assert "TTS_ROUTER_PLUGINS=espeak; filtered out: " in out


def test_doctor_flags_a_loudness_target_without_its_extra(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {"TTS_ROUTER_PLUGINS": "espeak", "TTS_ROUTER_LOUDNESS": "-16"}
    code, out, _ = cli("doctor", **env)
    assert code == 0, out  # installed here (the dev environment has every extra)
    monkeypatch.setitem(sys.modules, "pyloudnorm", None)  # as if it were not installed
    code, out, _ = cli("doctor", **env)
    assert code == 1
    assert "loudness extra is not installed" in " ".join(_problems(out))
    assert "pip install 'tts-router-core[loudness]'" in out
