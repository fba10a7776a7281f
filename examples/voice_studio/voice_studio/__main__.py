"""``python -m voice_studio [--host H] [--port P] [--data-dir DIR]``: serve Voice Studio.

Providers come from the environment, as for every tts_router host: with nothing set it speaks
with eSpeak NG, offline; ``TTS_PROVIDER=qwen`` with ``QWEN_MODAL_URL`` (and
``QWEN_MODAL_DESIGN_URL``) switches it to a Qwen service, new or earlier (legacy) Modal app.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from tts_router import Router

from .app import create_app


def main(argv: list[str] | None = None) -> None:
    """Parse the flags and run the app under uvicorn until interrupted."""
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m voice_studio", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--data-dir", type=Path, default=Path("out/voice_studio"))
    args = parser.parse_args(argv)
    router = Router()
    usable = [pid for pid, p in router.providers.items() if p.missing_configuration() is None]
    print(
        f"Voice Studio on http://{args.host}:{args.port}/ (providers: "
        f"{', '.join(usable) or 'none configured'}; data in {args.data_dir})",
        flush=True,
    )
    uvicorn.run(
        create_app(args.data_dir, router=router),
        host=args.host,
        port=args.port,
        log_level="warning",
    )


if __name__ == "__main__":
    main()
