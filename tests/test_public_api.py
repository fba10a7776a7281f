"""The public API is a contract: ``tts_router.__all__`` lists it, every name in it is
documented, and every public module is named where a reader looks for it."""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path

import tts_router

ROOT = Path(tts_router.__file__).parent
README = (ROOT.parent / "README.md").read_text()


def _type_checking_imports() -> dict[str, str]:
    """Names the TYPE_CHECKING block of ``tts_router/__init__.py`` imports, and from where."""
    tree = ast.parse((ROOT / "__init__.py").read_text())
    block = next(
        n for n in tree.body if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test)
    )
    return {
        alias.name: (node.module or "")
        for node in block.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_the_names_stand_in_one_table() -> None:
    lazy = tts_router._LAZY
    assert _type_checking_imports() == lazy  # what type checkers see is what runs
    assert sorted(tts_router.__all__) == sorted([*lazy, "__version__"])


def test_every_exported_name_resolves_and_is_documented() -> None:
    undocumented = []
    for name in tts_router.__all__:
        value = getattr(tts_router, name)
        if inspect.isclass(value) or inspect.isfunction(value):
            own = value.__dict__.get("__doc__") if inspect.isclass(value) else value.__doc__
            if not (own or "").strip():
                undocumented.append(name)
        elif name != "__version__" and f"``{name}``" not in (tts_router.__doc__ or ""):
            undocumented.append(name)  # a constant or type alias: the package docstring says
    assert not undocumented, f"exported without docs: {undocumented}"


def test_every_public_module_is_named_in_the_architecture() -> None:
    architecture = README[README.index("## Architecture") :]
    missing = []
    for path in sorted(ROOT.iterdir()):
        if path.name.startswith("_") or path.name == "py.typed" or path.suffix not in ("", ".py"):
            continue
        shown = f"{path.name}/" if path.is_dir() else path.name
        if not re.search(rf"(?m)^\s+{re.escape(shown)}\s", architecture):
            missing.append(shown)
    assert not missing, f"public modules missing from README's architecture: {missing}"


def test_every_public_module_of_a_package_is_named_by_its_package() -> None:
    missing = []
    for package in (p for p in ROOT.iterdir() if (p / "__init__.py").exists()):
        doc = importlib.import_module(f"tts_router.{package.name}").__doc__ or ""
        for module in package.glob("*.py"):
            if not module.name.startswith("_") and f".{module.stem}`" not in doc:
                missing.append(f"{package.name}/{module.name}")
    assert not missing, f"modules their package's docstring does not name: {missing}"
