"""Llama 3 traps found in the tokenizer, the weights and the data, each with its fix.

Pitfall ids (L1-L8) are those of the project's family notes; the README maps each to a source.
Nothing here mutates the tokenizer or the model: fixes are returned for the core to apply.
"""

from __future__ import annotations

from typing import Any

from framework.embedding_rows import untrained_rows_finding
from framework.hookdata import Finding, Fix, ModelFacts
from framework_llama3.chat import stop_tokens
from framework_llama3.vocab import BOS, EOT, END_OF_TEXT, FINETUNE_PAD, FORMAT_TOKENS

SRC_EOT = "https://github.com/vllm-project/vllm/issues/4180"
SRC_PAD = "https://github.com/huggingface/transformers/issues/23530"
SRC_BOS = "https://github.com/OpenRLHF/OpenRLHF/issues/393"
SRC_UNTRAINED = "https://github.com/OpenRLHF/OpenRLHF/pull/648"
SRC_CJK = ("shared/seeds/000_5a1c4f87ca98d43d.txt (5.1: Llama 3 tokenizer efficiency on Chinese); "
           "plugins/llama3/README.md")

#: Share of CJK characters (of non-space characters) above which the data advice is given.
CJK_SHARE = 0.3
#: Reserved control token used as pad where no dedicated one exists (Llama 3.0).
RESERVED_PAD = "<|reserved_special_token_0|>"


# ── tokenizer ─────────────────────────────────────────────────────────────────────────────


def _bos(tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    findings = []
    if tokenizer.bos_token != BOS and BOS in vocab:
        findings.append(Finding(
            code="bos-token-wrong", severity="warning",
            message=f"bos_token is {tokenizer.bos_token!r}, not {BOS}: the chat template emits bos_token first, "
            "so every sample would start without the token Llama 3 was trained to see first",
            fix=Fix(description=f"set bos_token = {BOS}", special_tokens={"bos_token": BOS}), source=SRC_BOS,
        ))
    ids = tokenizer("x")["input_ids"]
    if ids and ids[0] == vocab.get(BOS):
        findings.append(Finding(
            code="bos-added-on-encode", severity="info",
            message=f"training is unaffected; prompts you encode yourself get a double BOS: this tokenizer "
            f"prepends {BOS} on tokenizer(text) and the chat format already starts with it (pitfall L3); rendered "
            "chats are tokenized with add_special_tokens=False (one BOS), but tokenizing a rendered prompt yourself "
            "with the default "
            f"add_special_tokens=True gives [{vocab[BOS]}, {vocab[BOS]}, ...]; use add_special_tokens=False or "
            "apply_chat_template(tokenize=True) at inference (with transformers 5, tokenizer.add_bos_token=False "
            "also stops it, at the price of raw-text encodes losing their BOS)",
            source=SRC_BOS,
        ))
    return findings


def _end_of_turn(facts: ModelFacts, tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    stops = stop_tokens(facts, vocab)
    eot_id = vocab.get(EOT)
    if not stops or eot_id is None:
        return []
    config_stops = eot_id in facts.eos_token_ids
    if tokenizer.eos_token == EOT and config_stops:
        return []
    where = []
    if tokenizer.eos_token != EOT:
        where.append(f"tokenizer eos_token is {tokenizer.eos_token!r}")
    if not config_stops:
        where.append(f"config.json eos_token_id={list(facts.eos_token_ids)} lacks {eot_id}")
    return [Finding(
        code="eos-not-end-of-turn", severity="warning",
        message=f"turns end with {EOT} but {' and '.join(where)}: generation that stops only on eos runs past the "
        "end of the reply (pitfall L1)",
        fix=Fix(description=f"stop on {', '.join(stops)} in evaluation, chat and the saved generation config",
                stop_tokens=tuple(stops)),
        source=SRC_EOT,
    )]


def _pad_choice(vocab: dict[str, int]) -> str | None:
    for token in (FINETUNE_PAD, RESERVED_PAD):
        if token in vocab:
            return token
    return None


def _pad(facts: ModelFacts, tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    pad = tokenizer.pad_token
    stops = {tokenizer.eos_token, END_OF_TEXT, *stop_tokens(facts, vocab)}
    if pad is not None and pad not in stops:
        return []
    choice = _pad_choice(vocab)
    fix = Fix(description=f"pad with {choice} (id {vocab[choice]}), a control token already in the vocabulary: "
              "no new embedding row", special_tokens={"pad_token": choice}) if choice else None
    if pad is None:
        code, why = "pad-token-missing", "Llama 3 tokenizers have no pad token"
    else:
        code, why = "pad-equals-eos", f"pad_token {pad!r} is also an end token"
    return [Finding(
        code=code, severity="warning",
        message=f"{why}; padding with eos makes collators that mask pad ids also mask every real end token, "
        "so the model never learns to stop (pitfall L2)",
        fix=fix, source=SRC_PAD,
    )]


def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    """BOS, end of turn and pad of the Llama 3 format; only pad when the shipped template is another format."""
    vocab = tokenizer.get_vocab()
    if facts.chat_format == "shipped":  # its own markers and end token: the core checks them from the template
        return _pad(facts.model_copy(update={"variant": "3"}), tokenizer, vocab)
    return [*_bos(tokenizer, vocab), *_end_of_turn(facts, tokenizer, vocab), *_pad(facts, tokenizer, vocab)]


# ── model ─────────────────────────────────────────────────────────────────────────────────


def check_model(facts: ModelFacts, model: Any, tokenizer: Any) -> list[Finding]:
    """Untrained rows of the format's control tokens; nothing when the shipped template is another format."""
    if facts.chat_format == "shipped":
        return []
    vocab = tokenizer.get_vocab()
    finding = untrained_rows_finding(model, {t: vocab.get(t) for t in FORMAT_TOKENS}, source=SRC_UNTRAINED,
                                     advice="pitfall L4: starting from the Instruct model or lora.train_embeddings=true also avoids it")
    return [finding] if finding is not None else []


# ── data ──────────────────────────────────────────────────────────────────────────────────


def is_cjk(ch: str) -> bool:
    code = ord(ch)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0x3040 <= code <= 0x30FF
            or 0xAC00 <= code <= 0xD7AF or 0xF900 <= code <= 0xFAFF)


def check_data(tokenizer: Any, texts: list[str]) -> list[Finding]:
    """Advise on CJK-heavy data, which the Llama 3 vocabulary encodes less compactly."""
    sample = texts[:2000]
    chars = sum(len(t) - sum(c.isspace() for c in t) for t in sample)
    cjk = sum(sum(map(is_cjk, t)) for t in sample)
    if not chars or cjk / chars < CJK_SHARE:
        return []
    heavy = [t for t in sample if sum(map(is_cjk, t)) > 0.3 * max(len(t), 1)] or sample
    tokens = sum(len(ids) for ids in tokenizer(heavy, add_special_tokens=False)["input_ids"])
    rate = sum(len(t) for t in heavy) / max(tokens, 1)
    return [Finding(
        code="cjk-heavy-data", severity="warning",
        message=f"{cjk / chars:.0%} of your text is CJK, which the Llama 3 tokenizer encodes at {rate:.2f} "
        "chars/token (a Qwen-family tokenizer needs about 17% fewer tokens for the same Chinese, see the "
        "plugin README): "
        "consider a Qwen-family model for Chinese-first work, extending the vocabulary (new tokens, resized "
        "embeddings, lora.train_embeddings=true), or a longer data.cutoff_len so replies are not truncated",
        source=SRC_CJK,
    )]
