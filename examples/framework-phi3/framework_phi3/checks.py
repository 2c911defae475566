"""Phi-3 tokenizer and data traps, as findings the core reports (and fixes where a fix exists)."""

from __future__ import annotations

from typing import Any

from framework.hookdata import Finding, Fix
from framework_phi3.vocab import ADDED_TOKENS, END_OF_TURN, ROLE_TOKENS

SAMPLE_FINETUNE = "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/sample_finetune.py"
RSTRIP_FIX = "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/discussions/53"
ADDED_TOKENS_SOURCE = "https://huggingface.co/microsoft/Phi-3-mini-4k-instruct/blob/main/added_tokens.json"


def check_tokenizer(tokenizer: Any) -> list[Finding]:
    vocab = tokenizer.get_vocab()
    missing = [t for t in (END_OF_TURN, *ROLE_TOKENS.values()) if t not in vocab]
    if missing:
        return [Finding(code="phi3-chat-tokens-missing", severity="error", source=ADDED_TOKENS_SOURCE,
                        message=f"the tokenizer lacks Phi-3's chat token(s) {', '.join(missing)}: it is not a "
                        "Phi-3 tokenizer; pass the model's own tokenizer files")]
    findings = []
    moved = [t for t, i in ADDED_TOKENS.items() if t in vocab and vocab[t] != i]
    if moved:
        findings.append(Finding(code="phi3-chat-token-ids", severity="warning", source=ADDED_TOKENS_SOURCE,
                                message=f"chat token(s) {', '.join(moved)} have other ids than the published "
                                "Phi-3 tokenizer: their embedding rows were trained under other ids"))
    if tokenizer.pad_token is not None and tokenizer.pad_token == tokenizer.eos_token:
        unk = tokenizer.unk_token
        fix = Fix(description=f"pad with {unk} (Microsoft's fine-tuning sample does the same)",
                  special_tokens={"pad_token": unk}) if unk and unk in vocab else None
        findings.append(Finding(
            code="pad-equals-eos", severity="warning", fix=fix, source=SAMPLE_FINETUNE,
            message=f"pad_token is the eos token {tokenizer.eos_token}: collators that mask padding by id also "
            "mask the real end of text, and the model never learns to stop"))
    swallowing = [t for t in (END_OF_TURN, *ROLE_TOKENS.values()) if _rstrip(tokenizer, t)]
    if swallowing:
        findings.append(Finding(
            code="chat-token-rstrip", severity="warning", source=RSTRIP_FIX,
            message=f"{', '.join(swallowing)} strip the whitespace after them (rstrip=True, tokenizer files from "
            "before Microsoft's May 2024 fix): the newline the template writes after each one is swallowed, so "
            "training ids differ from those of the current tokenizer; update tokenizer_config.json and tokenizer.json"))
    return findings


def _rstrip(tokenizer: Any, token: str) -> bool:
    for added in (getattr(tokenizer, "added_tokens_decoder", None) or {}).values():
        if added.content == token:
            return bool(getattr(added, "rstrip", False))
    return False


def check_data(texts: list[str]) -> list[Finding]:
    """Chat-token text inside the data stays plain text; say how often it occurs."""
    markers = (END_OF_TURN, *ROLE_TOKENS.values())
    hits = sum(1 for text in texts if any(m in text for m in markers))
    if not hits:
        return []
    return [Finding(code="chat-token-text-in-data", severity="info",
                    message=f"{hits} of {len(texts)} sampled texts contain Phi-3 chat-token text such as "
                    f"{END_OF_TURN}; it is tokenized as plain text (set data.allow_special_in_data to parse it "
                    "as control tokens)")]
