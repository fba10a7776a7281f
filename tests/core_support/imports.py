"""What a piece of code imports, measured in a fresh interpreter (``-X importtime``)."""

from __future__ import annotations

import subprocess
import sys


def modules_imported_by(code: str) -> set[str]:
    """Every module a fresh interpreter imports running ``code`` (which must succeed)."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        check=False,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    # `import time: self [us] | cumulative | imported package`, one line per module imported
    return {line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines()}
