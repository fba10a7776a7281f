"""The load policy as a table: (device, capability, flash installed, asked) -> dtype, attention."""

from __future__ import annotations

import pytest
from tts_router_qwen_modal.policy import DeviceFacts, plan_load

A10G = (8, 6)
T4 = (7, 5)
H100 = (9, 0)

TABLE = [
    # device,              cap,   flash, asked dtype,  asked attention,     dtype,      attentions
    ("cuda", A10G, False, None, None, "bfloat16", ("sdpa", "eager")),
    ("cuda", H100, True, None, None, "bfloat16", ("sdpa", "eager")),
    ("cuda", T4, False, None, None, "float32", ("sdpa", "eager")),
    ("cuda", T4, True, None, "flash_attention_2", "float32", ("sdpa", "eager")),
    (
        "cuda",
        A10G,
        True,
        None,
        "flash_attention_2",
        "bfloat16",
        ("flash_attention_2", "sdpa", "eager"),
    ),
    ("cuda", A10G, False, None, "flash_attention_2", "bfloat16", ("sdpa", "eager")),
    ("cuda", A10G, True, "float32", "flash_attention_2", "float32", ("sdpa", "eager")),
    ("cuda", T4, False, "bfloat16", None, "float32", ("sdpa", "eager")),
    ("cuda", T4, False, "float16", None, "float16", ("sdpa", "eager")),
    ("cuda", A10G, False, None, "eager", "bfloat16", ("eager",)),
    ("cpu", None, False, None, None, "float32", ("sdpa", "eager")),
    ("cpu", None, True, "bfloat16", "flash_attention_2", "float32", ("sdpa", "eager")),
    ("mps", None, False, "float16", None, "float32", ("sdpa", "eager")),
]


@pytest.mark.parametrize(
    ("kind", "cap", "flash", "dtype", "attention", "want_dtype", "want"), TABLE
)
def test_load_policy_table(
    kind: str,
    cap: tuple[int, int] | None,
    flash: bool,
    dtype: str | None,
    attention: str | None,
    want_dtype: str,
    want: tuple[str, ...],
) -> None:
    plan = plan_load(
        DeviceFacts(kind, cap, flash),  # type: ignore[arg-type]
        dtype=dtype,  # type: ignore[arg-type]
        attention=attention,  # type: ignore[arg-type]
    )
    assert (plan.dtype, plan.attentions) == (want_dtype, want)
    assert plan.attention == want[0]
    assert plan.reasons  # every choice is explained


def test_t4_reason_names_the_nan_problem() -> None:
    plan = plan_load(DeviceFacts("cuda", T4))
    assert any("NaN" in reason for reason in plan.reasons)
