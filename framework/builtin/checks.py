"""Family-agnostic checks that run beside the selected plugin's own."""

from __future__ import annotations

from typing import Any

from framework.hookdata import Finding
from framework.hookspecs import hookimpl


@hookimpl
def check_tokenizer(tokenizer: Any) -> list[Finding]:
    if not getattr(tokenizer, "is_fast", False):
        return [Finding(
            code="slow-tokenizer", severity="error",
            message="the tokenizer is not a fast tokenizer; offsets are needed to place the loss mask "
            "(install `tokenizers` and keep tokenizer.json beside the model)",
        )]
    return []


def _is_cjk(ch: str) -> bool:
    code = ord(ch)
    return 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x3040 <= code <= 0x30FF or 0xAC00 <= code <= 0xD7AF


@hookimpl
def check_data(tokenizer: Any, texts: list[str]) -> list[Finding]:
    """Measure characters per token on the user's own text, CJK and the rest separately."""
    if not texts:
        return []
    sample = texts[:2000]
    cjk = [t for t in sample if sum(map(_is_cjk, t)) > len(t) * 0.3]
    other = [t for t in sample if t not in cjk]
    parts = []
    for label, group in (("CJK", cjk), ("other", other)):
        if group:
            chars = sum(len(t) for t in group)
            tokens = sum(len(ids) for ids in tokenizer(group, add_special_tokens=False)["input_ids"])
            parts.append(f"{label} {chars / max(tokens, 1):.2f} chars/token over {len(group)} texts")
    return [Finding(code="chars-per-token", severity="info", message="tokenizer efficiency on your data: " + "; ".join(parts))]
