"""The ``fixture_plugins`` pytest fixture: the test plugins, visible only to the test asking.

``tests/plugin_fixtures`` is a distribution that is never installed (so a developer's
``tts-router`` never lists it). A test that needs real entry points asks for the fixture::

    def test_something(fixture_plugins: FixturePlugins) -> None:
        registry = load_plugins(frozenset({"fixture_good", "fixture_hook_raises"}))
        ...

    def test_cli(fixture_plugins: FixturePlugins) -> None:
        env = fixture_plugins.env(TTS_ROUTER_PLUGINS="fixture_good")  # for a subprocess
        subprocess.run(["tts-router", "providers"], env=env, ...)

For the test's duration the package source and a generated ``*.dist-info`` (``METADATA`` and
``entry_points.txt``, read from ``tests/plugin_fixtures/pyproject.toml``) are on ``sys.path``
and on ``PYTHONPATH`` (so subprocesses such as the console script see them too), and the
plugin registry is reset before and after: ``importlib.metadata`` finds real entry points.
Every entry point is visible; restrict with ``TTS_ROUTER_PLUGINS`` or ``load_plugins(...)``.
The entry points and what each one does wrong are listed in the package's docstring
(``tests/plugin_fixtures/src/tts_router_plugin_fixtures/__init__.py``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tts_router.plugins import ENTRY_POINT_GROUP, reset_plugins

__all__ = ["FixturePlugins", "fixture_plugins", "fixture_plugins_distribution", "write_dist_info"]

PROJECT = Path(__file__).resolve().parents[1] / "plugin_fixtures"
SOURCE = PROJECT / "src"


@dataclass(frozen=True)
class FixturePlugins:
    """What the fixture made visible: entry point names and the ``sys.path`` entries."""

    entry_points: dict[str, str]
    """Entry point name -> module, as in the pyproject."""
    version: str
    paths: tuple[str, ...]

    def env(self, **variables: str) -> dict[str, str]:
        """``os.environ`` (with ``PYTHONPATH`` already set by the fixture) plus ``variables``:
        the environment for a subprocess that must see the fixture plugins."""
        return {**os.environ, **variables}


def write_dist_info(target: Path) -> FixturePlugins:
    """Write the distribution's ``*.dist-info`` into ``target`` (created); the entry points come
    from ``tests/plugin_fixtures/pyproject.toml``."""
    project = tomllib.loads((PROJECT / "pyproject.toml").read_text())["project"]
    name, version = project["name"], project["version"]
    entry_points: dict[str, str] = project["entry-points"][ENTRY_POINT_GROUP]
    dist_info = target / f"{name.replace('-', '_')}-{version}.dist-info"
    dist_info.mkdir(parents=True, exist_ok=True)
    (dist_info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    )
    lines = [f"[{ENTRY_POINT_GROUP}]", *(f"{k} = {v}" for k, v in entry_points.items())]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return FixturePlugins(entry_points, version, (str(SOURCE), str(target)))


@pytest.fixture(scope="session")
def fixture_plugins_distribution(tmp_path_factory: pytest.TempPathFactory) -> FixturePlugins:
    """The generated distribution, written once per session (not yet on ``sys.path``)."""
    return write_dist_info(tmp_path_factory.mktemp("fixture-plugins"))


@pytest.fixture
def fixture_plugins(
    monkeypatch: pytest.MonkeyPatch, fixture_plugins_distribution: FixturePlugins
) -> Iterator[FixturePlugins]:
    """Make the test plugins of ``tests/plugin_fixtures`` visible for this test (module
    docstring: how), in this process and in subprocesses started with its ``PYTHONPATH``."""
    paths = fixture_plugins_distribution.paths
    for path in reversed(paths):
        monkeypatch.syspath_prepend(path)
    inherited = os.environ.get("PYTHONPATH")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([*paths, *([inherited] if inherited else [])]))
    reset_plugins()
    yield fixture_plugins_distribution
    reset_plugins()
