"""Make ``tts_router_qwen_modal`` importable before the distribution is installed.

The provider has no pyproject.toml yet; once it is installed (editable) this is a no-op.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("tts_router_qwen_modal") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
