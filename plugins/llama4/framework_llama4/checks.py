"""Llama 4 traps found in the tokenizer: BOS, end of turn versus eos, and the pad token.

Nothing here mutates the tokenizer: fixes are returned for the core to apply.
"""

from __future__ import annotations

from typing import Any

from framework.hookdata import Finding, Fix, ModelFacts
from framework_llama4.chat import stop_tokens
from framework_llama4.vocab import BOS, END_OF_TEXT, EOT, EOT_ID, FINETUNE_PAD

SRC_STOP = "llama_models/llama4/tokenizer.py (stop_tokens = [<|end_of_text|>, <|eom|>, <|eot|>])"
SRC_PAD = "llama_models/llama4/tokenizer.py (pad_id = <|finetune_right_pad|>); config.json pad_token_id 200018"
#: The pad token's names: Meta's file and the spelling of Llama 3's Hub tokenizers.
PAD_NAMES = (FINETUNE_PAD, "<|finetune_right_pad_id|>")
RESERVED_PAD = "<|reserved_special_token_0|>"


def _bos(tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    if tokenizer.bos_token == BOS or BOS not in vocab:
        return []
    return [Finding(code="bos-token-wrong", severity="warning",
                    message=f"bos_token is {tokenizer.bos_token!r}, not {BOS}: the chat template emits bos_token first",
                    fix=Fix(description=f"set bos_token = {BOS}", special_tokens={"bos_token": BOS}))]


def _end_of_turn(facts: ModelFacts, tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    stops = stop_tokens(facts, vocab)
    if EOT not in vocab or (tokenizer.eos_token == EOT and (not facts.eos_token_ids or EOT_ID in facts.eos_token_ids)):
        return []
    return [Finding(
        code="eos-not-end-of-turn", severity="warning",
        message=f"replies end with {EOT} but the tokenizer's eos is {tokenizer.eos_token!r} (config eos_token_id "
        f"{list(facts.eos_token_ids)}): generation that stops only on eos runs past the reply",
        fix=Fix(description=f"stop on {', '.join(stops)} in evaluation, chat and the saved generation config",
                stop_tokens=tuple(stops)), source=SRC_STOP)]


def _pad(facts: ModelFacts, tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    pad = tokenizer.pad_token
    if pad is not None and pad not in {tokenizer.eos_token, END_OF_TEXT, *stop_tokens(facts, vocab)}:
        return []
    choice = next((t for t in (*PAD_NAMES, RESERVED_PAD) if t in vocab), None)
    fix = Fix(description=f"pad with {choice} (id {vocab[choice]}), a reserved control token already in the "
              "vocabulary: no new embedding row", special_tokens={"pad_token": choice}) if choice else None
    why = "the tokenizer has no pad token" if pad is None else f"pad_token {pad!r} is also an end token"
    return [Finding(code="pad-token-missing" if pad is None else "pad-equals-eos", severity="warning",
                    message=f"{why}; padding with an end token makes collators that mask pad ids also mask every "
                    "trained end token, so the model never learns to stop", fix=fix, source=SRC_PAD)]


def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    vocab = tokenizer.get_vocab()
    if facts.chat_format == "shipped":
        return _pad(facts, tokenizer, vocab)
    return [*_bos(tokenizer, vocab), *_end_of_turn(facts, tokenizer, vocab), *_pad(facts, tokenizer, vocab)]
