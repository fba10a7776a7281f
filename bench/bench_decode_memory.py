"""Peak memory of decoding one reference upload: ``decode_audio`` against the earlier decoder.

Each case runs in a fresh process: the file is made and held in memory, everything is imported,
then the peak RSS (``ru_maxrss``) is read before and after one decode. The difference, divided
by the upload's size, is the memory the decoder needed per MB uploaded. The earlier decoder
(read all channels as float32, downmix through float64, clip) is measured in the same run as
the baseline. Usage: ``python bench/bench_decode_memory.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CASES = {
    # (rate, channels, subtype or codec, seconds): the first is issue 15's 11 MB upload.
    "wav 192 kHz 8-bit mono 59 s": (192_000, 1, "PCM_U8", 59.0),
    "wav 48 kHz 16-bit stereo 59 s": (48_000, 2, "PCM_16", 59.0),
    "flac 96 kHz 24-bit stereo 30 s": (96_000, 2, "FLAC", 30.0),
    "webm/opus 48 kHz stereo 59 s": (48_000, 2, "webm", 59.0),
}

MAKE = r"""
import io, json, sys
import numpy as np, soundfile as sf
sys.path.insert(0, sys.argv[1] + "/tests")
rate, channels, kind, seconds = json.loads(sys.argv[2])
t = np.arange(int(rate * seconds)) / rate
tone = 0.5 * np.sin(2 * np.pi * 220 * t) * (1 + 0.3 * np.sin(2 * np.pi * 0.5 * t)) / 1.3
x = np.stack([tone] * channels, axis=1) if channels > 1 else tone
if kind == "webm":
    from core_support.encode import encode
    data = encode(x, rate, "webm")
else:
    buf = io.BytesIO()
    fmt = "FLAC" if kind == "FLAC" else "WAV"
    sf.write(buf, x, rate, format=fmt, subtype="PCM_24" if kind == "FLAC" else kind)
    data = buf.getvalue()
open(sys.argv[3], "wb").write(data)
"""

# Made in another process, so that making it leaves no high-water mark in the measuring one.
MEASURE = r"""
import io, json, resource, sys
import numpy as np, soundfile as sf
from tts_router.audio import decode_audio
import av  # imported before the first reading, like everything the decoders use

def earlier(data):
    frames, sr = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    assert np.isfinite(frames).all()
    mono = frames.mean(axis=1, dtype=np.float64).astype(np.float32)
    assert float(np.max(np.abs(mono))) > 1e-3
    return np.clip(mono, -1.0, 1.0)

data = open(sys.argv[1], "rb").read()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = decode_audio(data) if sys.argv[2] == "now" else earlier(data)
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"bytes": len(data), "peak_kb": after - before}))
"""


def make(case: tuple[int, int, str, float], path: Path) -> None:
    subprocess.run([sys.executable, "-c", MAKE, str(ROOT), json.dumps(case), str(path)], check=True)


def run(path: Path, which: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(path), which],
        capture_output=True,
        text=True,
        check=True,
    )
    result: dict[str, int] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    print(
        f"{'case':34} {'upload MB':>9} {'now MB':>8} {'per MB':>7} {'before MB':>9} {'per MB':>7}"
    )
    for name, case in CASES.items():
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "upload"
            make(case, path)
            now = run(path, "now")
            old = run(path, "earlier") if case[2] != "webm" else None
        mb = now["bytes"] / 1e6
        line = f"{name:34} {mb:9.1f} {now['peak_kb'] / 1e3:8.1f} {now['peak_kb'] / 1e3 / mb:7.2f}"
        if old is not None:  # the earlier decoder could not read WebM at all
            line += f" {old['peak_kb'] / 1e3:9.1f} {old['peak_kb'] / 1e3 / mb:7.2f}"
        print(line)


if __name__ == "__main__":
    main()
