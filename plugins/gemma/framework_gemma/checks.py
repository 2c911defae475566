"""Gemma traps found in the tokenizer, the weights and the data, each with its fix.

Pitfall ids (G1-G9) are those of the project's family notes; the README maps each to a source.
Nothing here mutates the tokenizer or the model: fixes are returned for the core to apply.
"""

from __future__ import annotations

from typing import Any

from framework.embedding_rows import untrained_rows_finding
from framework.hookdata import Finding, Fix, ModelFacts
from framework_gemma import detect
from framework_gemma.vocab import (
    BOS,
    END_OF_TURN,
    EOS,
    FORMAT_TOKENS,
    G4_FORMAT_TOKENS,
    G4_TURN_CLOSE,
    G4_TURN_OPEN,
    PAD,
    START_OF_TURN,
)


def turn_tokens(facts: ModelFacts | None) -> tuple[str, str]:
    """(start, end) turn tokens of the generation."""
    return (G4_TURN_OPEN, G4_TURN_CLOSE) if facts is not None and detect.is_gemma4(facts) else \
        (START_OF_TURN, END_OF_TURN)

SRC_BOS = "https://github.com/EleutherAI/lm-evaluation-harness/pull/1465"
SRC_DOUBLE_BOS = "https://github.com/vllm-project/vllm/pull/55288"
SRC_PAD = "https://github.com/huggingface/transformers/issues/23530"
SRC_STOP = ("https://github.com/huggingface/transformers/blob/main/src/transformers/models/gemma3/"
            "convert_gemma3_weights_orbax_to_hf.py (instruct models treat both <eos> and <end_of_turn> as "
            "generation stoppers); LLaMA-Factory template.py gemma: stop word <end_of_turn>")
SRC_UNTRAINED = "https://github.com/OpenRLHF/OpenRLHF/pull/648"
SRC_FORMAT = "https://ai.google.dev/gemma/docs/formatting"

#: How many offending data texts a finding quotes at most.
QUOTED = 3


# ── tokenizer ─────────────────────────────────────────────────────────────────────────────


def _bos_token(tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    """G1: Gemma collapses without <bos>; the template emits ``bos_token`` and the core's
    pre-training path prepends ``bos_token_id``, so the tokenizer must name the right token."""
    if tokenizer.bos_token == BOS:
        return []
    if BOS not in vocab:
        return [Finding(
            code="bos-token-absent", severity="error",
            message=f"the vocabulary has no {BOS}: Gemma degrades badly on sequences that do not start with it "
            "(lambada perplexity 5.9e9 -> 3.46 for gemma-7b once BOS is added; pitfall G1)",
            source=SRC_BOS,
        )]
    what = "no bos_token" if tokenizer.bos_token is None else f"bos_token {tokenizer.bos_token!r}"
    return [Finding(
        code="bos-token-missing" if tokenizer.bos_token is None else "bos-token-wrong", severity="warning",
        message=f"the tokenizer has {what}, not {BOS}: samples would start without the token Gemma needs first "
        "(Gemma degrades badly without it; pitfall G1)",
        fix=Fix(description=f"set bos_token = {BOS} (id {vocab[BOS]})", special_tokens={"bos_token": BOS}),
        source=SRC_BOS,
    )]


def _bos_on_encode(tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    """G1 both ways: Google's tokenizer prepends <bos> on encode and the chat format starts with it."""
    bos_id = vocab.get(BOS)
    if bos_id is None:
        return []
    ids = tokenizer("x")["input_ids"]
    if ids and ids[0] == bos_id:
        return [Finding(
            code="bos-added-on-encode", severity="info",
            message=f"this tokenizer prepends {BOS} on tokenizer(text) and Gemma's chat format already starts with it: "
            "training is unaffected (rendered chats are tokenized with add_special_tokens=False, one BOS), but "
            f"tokenizing a rendered prompt yourself with the default add_special_tokens=True gives "
            f"[{bos_id}, {bos_id}, ...] (double BOS); use add_special_tokens=False for rendered text",
            source=SRC_DOUBLE_BOS,
        )]
    return [Finding(
        code="bos-not-added-on-encode", severity="warning",
        message=f"this tokenizer does not prepend {BOS} on tokenizer(text), unlike Google's (add_bos_token=true): "
        "the framework adds it itself, but raw-text encodes by evaluation harnesses or servers that rely on the "
        "tokenizer would run Gemma without BOS and get garbage (pitfall G1)",
        fix=Fix(description=f"set add_bos_token = True so the saved tokenizer prepends {BOS} like Google's",
                tokenizer_attributes={"add_bos_token": True}),
        source=SRC_BOS,
    )]


def _pad(tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    pad = tokenizer.pad_token
    ends = {tokenizer.eos_token, EOS, END_OF_TURN, G4_TURN_CLOSE}
    if pad is not None and pad not in ends and pad != tokenizer.bos_token:
        return []
    unused = sorted((i, t) for t, i in vocab.items() if t.startswith("<unused"))
    choice = PAD if PAD in vocab else unused[0][1] if unused else None
    fix = Fix(description=f"pad with {choice} (id {vocab[choice]}), Gemma's own padding token: no new embedding row",
              special_tokens={"pad_token": choice}) if choice else None
    if pad is None:
        code, why = "pad-token-missing", "the tokenizer has no pad token"
    else:
        code, why = "pad-equals-eos", f"pad_token {pad!r} is also an end (or start) token"
    return [Finding(
        code=code, severity="warning",
        message=f"{why}; collators that mask pad ids then also mask every trained end-of-turn/{EOS}, so the model "
        f"never learns to stop (Gemma ships {PAD}, id 0, for padding)",
        fix=fix, source=SRC_PAD,
    )]


def _end_of_turn(facts: ModelFacts, tokenizer: Any, vocab: dict[str, int]) -> list[Finding]:
    end_of_turn = turn_tokens(facts)[1]
    eot_id = vocab.get(end_of_turn)
    if eot_id is None:
        return [Finding(
            code="end-of-turn-absent", severity="error",
            message=f"the vocabulary has no {end_of_turn}: Gemma's chat format cannot be tokenized as the model "
            "expects",
            source=SRC_FORMAT,
        )]
    stops = set(facts.eos_token_ids) | {vocab.get(tokenizer.eos_token or "", -1)}
    if eot_id in stops:
        return []
    return [Finding(
        code="eos-not-end-of-turn", severity="warning",
        message=f"turns end with {end_of_turn} (id {eot_id}) but eos is {tokenizer.eos_token!r} and config.json "
        f"eos_token_id={list(facts.eos_token_ids)}: generation that stops only on eos runs past the end of the reply",
        fix=Fix(description=f"stop on {end_of_turn} in evaluation, chat and the saved generation config",
                stop_tokens=(end_of_turn,)),
        source=SRC_STOP,
    )]


def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    """BOS and pad are the architecture's needs; the turn tokens only matter when Gemma's format renders.

    A Gemma fine-tuned into another chat format (``chat_format="shipped"``) is rendered with its own
    template, so Gemma's ``<end_of_turn>`` is not demanded then.
    """
    vocab = tokenizer.get_vocab()
    found = [*_bos_token(tokenizer, vocab), *_bos_on_encode(tokenizer, vocab), *_pad(tokenizer, vocab)]
    if facts.chat_format == "shipped":
        return found
    return [*found, *_end_of_turn(facts, tokenizer, vocab)]


# ── model ─────────────────────────────────────────────────────────────────────────────────


def check_model(model: Any, tokenizer: Any, facts: ModelFacts | None = None) -> list[Finding]:
    """Near-zero embedding rows of the format's control tokens (Gemma ties input and output rows)."""
    vocab = tokenizer.get_vocab()
    tokens = G4_FORMAT_TOKENS if facts is not None and detect.is_gemma4(facts) else FORMAT_TOKENS
    finding = untrained_rows_finding(model, {t: vocab.get(t) for t in tokens}, source=SRC_UNTRAINED,
                                     advice="starting from the -it model or lora.train_embeddings=true also avoids it")
    return [finding] if finding is not None else []


# ── data ──────────────────────────────────────────────────────────────────────────────────


def _quote(texts: list[str]) -> str:
    return "; ".join(repr(t[:40]) for t in texts[:QUOTED])


def check_data(texts: list[str], facts: ModelFacts | None = None) -> list[Finding]:
    """Data that already carries Gemma's control tokens: pre-rendered chats and leading BOS text."""
    findings = []
    start, end = turn_tokens(facts)
    rendered = [t for t in texts if start in t or end in t]
    if rendered:
        findings.append(Finding(
            code="format-tokens-in-data", severity="warning",
            message=f"{len(rendered)} text(s) contain {start}/{end} (e.g. {_quote(rendered)}): "
            "the data looks rendered in Gemma's format already, and the framework renders the format itself, so "
            "turns would be nested; the text is kept as plain characters (it never becomes control tokens). Give "
            "plain messages",
            source=SRC_FORMAT,
        ))
    leading = [t for t in texts if t.lstrip().startswith(BOS)]
    if leading:
        findings.append(Finding(
            code="bos-text-in-data", severity="warning",
            message=f"{len(leading)} text(s) start with the literal {BOS} (e.g. {_quote(leading)}): the framework adds "
            "BOS itself, so raw-text (pt) training would see [<bos>, <bos>, ...] (double BOS) and chat turns would "
            "carry the characters '<bos>'. Remove it from the data",
            source=SRC_DOUBLE_BOS,
        ))
    return findings
