"""Tokenizer, weight and data checks for Mistral checkpoints (pitfalls M1-M8 of families.md).

Each check looks at the real tokenizer or weights and returns findings with the fix the core
applies; nothing here mutates the tokenizer or the model.
"""

from __future__ import annotations

from typing import Any

from framework.embedding_rows import untrained_rows_finding
from framework.hookdata import ChatOptions, Finding, Fix, ModelFacts

from framework_mistral import chat, vocab
from framework_mistral.detect import variant_of

SRC_PAD = "https://github.com/huggingface/trl/issues/976"
SRC_PAD_UNK = "https://github.com/bobazooba/xllm/pull/15"
SRC_BOS = "https://github.com/OpenRLHF/OpenRLHF/issues/393"
SRC_TEMPLATE = "https://github.com/mistralai/mistral-common/issues/3"
SRC_VOCAB = "https://github.com/mistralai/mistral-finetune/blob/main/README.md"
SRC_PADDING_SIDE = "https://github.com/huggingface/trl/issues/1018"
SRC_UNTRAINED = "https://github.com/OpenRLHF/OpenRLHF/pull/648"
SRC_BYTES = "https://github.com/mistralai/mistral-common"

# A probe conversation: one full turn and a follow-up, enough to see BOS and turn markers.
_PROBE = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
          {"role": "user", "content": "Bye"}]


def pad_candidate(tokenizer: Any) -> str | None:
    """A pad token already in the vocabulary that is neither eos nor bos.

    ``<pad>`` exists in Tekken (id 11); the sentencepiece vocabularies have none, so ``<unk>``
    (id 0; byte fallback means real text never produces it) comes next, then the v3
    vocabulary's unused ``[control_N]`` tokens. Never eos: the collator would mask every real
    end of turn (M1).
    """
    pieces = tokenizer.get_vocab()
    taken = {getattr(tokenizer, "eos_token", None), getattr(tokenizer, "bos_token", None)}
    controls = sorted((int(m.group(1)), tok) for tok in pieces if (m := vocab.CONTROL_N.fullmatch(tok)))
    for token in [vocab.PAD, vocab.UNK, *(tok for _, tok in controls)]:
        if token in pieces and token not in taken:
            return token
    return None


def _pad_findings(tokenizer: Any) -> list[Finding]:
    pad, eos = getattr(tokenizer, "pad_token", None), getattr(tokenizer, "eos_token", None)
    if pad is not None and pad != eos:
        return []
    candidate = pad_candidate(tokenizer)
    fix = Fix(description=f"set pad_token to {candidate!r}, already in the vocabulary",
              special_tokens={"pad_token": candidate}) if candidate else None
    if pad is None:
        return [Finding(code="pad-missing", severity="warning", fix=fix, source=SRC_PAD_UNK,
                        message="the Mistral tokenizer has no pad token; padding with eos would mask every "
                        "trained </s> and the model would not learn to stop")]
    return [Finding(code="pad-equals-eos", severity="error", fix=fix, source=SRC_PAD,
                    message=f"pad_token equals eos {eos!r}, the Mistral end-of-turn marker: a collator that masks "
                    "pad ids also masks every trained </s>, so the model never learns to stop")]


def _token_id(tokenizer: Any, text: str) -> int | None:
    """The id of ``text`` when the tokenizer reads it as exactly one token."""
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return ids[0] if len(ids) == 1 else None


def _bos_findings(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    if chat.chat_format(facts, tokenizer) is None:
        return []  # the checkpoint's own template decides whether a bos is emitted
    bos_id = getattr(tokenizer, "bos_token_id", None)
    if getattr(tokenizer, "bos_token", None) is None or bos_id is None:
        fix = Fix(description="set bos_token to '<s>'", special_tokens={"bos_token": "<s>"}) \
            if "<s>" in tokenizer.get_vocab() else None
        return [Finding(code="bos-missing", severity="error", fix=fix, source=SRC_BOS,
                        message="the tokenizer has no bos token; every Mistral chat template starts with <s>")]
    findings = []
    rendered = chat.render(facts, _PROBE, ChatOptions(), tokenizer)
    if rendered is not None:
        ids = tokenizer(rendered.text, add_special_tokens=False)["input_ids"]
        if ids[:1] != [bos_id] or ids.count(bos_id) != 1:
            findings.append(Finding(
                code="bos-not-single", severity="error", source=SRC_BOS,
                message=f"the rendered chat tokenizes to {ids.count(bos_id)} bos ids (expected one, first): "
                "the tokenizer does not read its bos string as one special token; use the checkpoint's tokenizer.json"))
    if tokenizer("a")["input_ids"][:1] == [bos_id]:
        findings.append(Finding(
            code="bos-added-by-tokenizer", severity="info", source=SRC_BOS,
            message="the tokenizer adds <s> itself and the chat template emits <s> too: rendered chats are "
            "tokenized with add_special_tokens=False; tokenizing them with defaults elsewhere doubles BOS"))
    return findings


def _eos_findings(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    eos, eos_id = getattr(tokenizer, "eos_token", None), getattr(tokenizer, "eos_token_id", None)
    if eos is None or eos_id is None:
        fix = Fix(description="set eos_token to '</s>'", special_tokens={"eos_token": "</s>"}) \
            if "</s>" in tokenizer.get_vocab() else None
        return [Finding(code="eos-missing", severity="error", fix=fix, source=SRC_PAD,
                        message="the tokenizer has no eos token; Mistral turns end with </s>")]
    config_eos = [i for i in facts.eos_token_ids if i != eos_id]
    if facts.eos_token_ids and config_eos and eos_id not in facts.eos_token_ids:
        names = tuple(tokenizer.convert_ids_to_tokens(config_eos))
        return [Finding(
            code="eos-mismatch", severity="warning", source=SRC_PAD,
            fix=Fix(description=f"stop on {eos!r} and {', '.join(names)}", stop_tokens=(eos, *names)),
            message=f"the chat format ends turns with the tokenizer's eos {eos!r} (id {eos_id}) but config.json "
            f"says eos_token_id={list(facts.eos_token_ids)}: generation would not stop on the trained marker")]
    return []


def control_tokens(facts: ModelFacts, tokenizer: Any) -> tuple[str, ...]:
    """The control tokens the variant's format is built from (v1 has none beyond bos/eos)."""
    fmt = chat.chat_format(facts, tokenizer)
    if fmt in ("v3", "tekken"):
        return vocab.TURN_TOKENS
    if fmt in chat.V7_FORMATS:
        think = vocab.THINK_TOKENS if variant_of(facts).reasoning else ()
        return (*vocab.TURN_TOKENS, *vocab.SYSTEM_TOKENS, *think)
    return ()


def _control_findings(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    """The formats rely on their markers being single control tokens ([INST] 3, [/INST] 4, [THINK] ...)."""
    split = [t for t in control_tokens(facts, tokenizer) if _token_id(tokenizer, t) is None]
    if not split:
        return []
    return [Finding(code="control-token-split", severity="error", source=SRC_TEMPLATE,
                    message=f"the tokenizer splits {', '.join(split)} into pieces although this "
                    f"{variant_of(facts).name} checkpoint was trained on them as single control tokens; load the "
                    "checkpoint's own tokenizer.json")]


def _prefix_findings(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    """Sentencepiece vocabularies: text after a control token must not get a second dummy prefix.

    mistral-common encodes each message on its own, so ``<s> [INST]`` / ``[INST] Hi`` carry one
    "▁" before the word. A fast tokenizer converted in the legacy sentencepiece mode prepends
    "▁" to every chunk between special tokens, adding a lone "▁" token after every ``<s>``,
    ``[INST]``, ``[/INST]`` and ``</s>``: ids the model never saw in training (M4). Measured:
    with a first-chunk-only prefix the Hub templates give mistral-common's ids exactly.
    """
    if chat.chat_format(facts, tokenizer) not in ("v1", "v3") or not byte_piece_ids(tokenizer):
        return []
    bos = getattr(tokenizer, "bos_token", None) or "<s>"
    after = tokenizer(f"{bos} Hello", add_special_tokens=False)["input_ids"][1:]
    alone = tokenizer("Hello", add_special_tokens=False)["input_ids"]
    if after == alone:
        return []
    return [Finding(code="dummy-prefix-per-chunk", severity="warning", source=SRC_TEMPLATE,
                    message="the tokenizer adds a sentencepiece dummy prefix after every special token (legacy mode): "
                    "each [INST]/[/INST]/</s> is followed by an extra '▁' token that mistral-common never produces; "
                    "reload the tokenizer with legacy=False (from_slow=True) or use the checkpoint's tokenizer.json")]


def _size_findings(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    if facts.vocab_size is None or len(tokenizer) <= facts.vocab_size:
        return []
    return [Finding(code="tokenizer-larger-than-model", severity="error", source=SRC_VOCAB,
                    message=f"the tokenizer has {len(tokenizer)} tokens but the model embeds {facts.vocab_size}: "
                    "ids past the embedding crash training (a v3 32768 tokenizer on a 32000 v0.1/v0.2 model?); use the "
                    "checkpoint's tokenizer or extend the model's vocabulary first")]


def _padding_side_findings(tokenizer: Any) -> list[Finding]:
    if getattr(tokenizer, "padding_side", "right") != "left":
        return []
    return [Finding(code="padding-side-left", severity="warning", source=SRC_PADDING_SIDE,
                    fix=Fix(description="pad on the right for training",
                            tokenizer_attributes={"padding_side": "right"}),
                    message="padding_side is 'left': training pads on the right (left padding is only for batched "
                    "flash-attention generation, M2)")]


def check_tokenizer(facts: ModelFacts, tokenizer: Any) -> list[Finding]:
    """Pad, BOS, EOS, control tokens, vocabulary size and padding side."""
    return [
        *_pad_findings(tokenizer),
        *_bos_findings(facts, tokenizer),
        *_eos_findings(facts, tokenizer),
        *_control_findings(facts, tokenizer),
        *_prefix_findings(facts, tokenizer),
        *_size_findings(facts, tokenizer),
        *_padding_side_findings(tokenizer),
    ]


def template_token_ids(facts: ModelFacts, tokenizer: Any) -> list[int]:
    """Ids of the special tokens the chat format emits: bos, eos and the format's control tokens."""
    ids = [getattr(tokenizer, "bos_token_id", None), getattr(tokenizer, "eos_token_id", None)]
    ids += [_token_id(tokenizer, token) for token in control_tokens(facts, tokenizer)]
    return sorted({i for i in ids if i is not None})


def check_model(facts: ModelFacts, model: Any, tokenizer: Any) -> list[Finding]:
    """Untrained rows of the template's special tokens (base checkpoints trained without chat)."""
    ids = template_token_ids(facts, tokenizer)
    finding = untrained_rows_finding(model, dict(zip(tokenizer.convert_ids_to_tokens(ids), ids)), source=SRC_UNTRAINED,
                                     advice="start from the Instruct checkpoint, or let the fix re-initialise them")
    return [finding] if finding is not None else []


def byte_piece_ids(tokenizer: Any) -> frozenset[int]:
    """Ids of sentencepiece byte-fallback pieces ``<0x00>``..``<0xFF>`` (none in Tekken)."""
    return frozenset(i for tok, i in tokenizer.get_vocab().items() if vocab.BYTE_PIECE.fullmatch(tok))


def check_data(facts: ModelFacts, tokenizer: Any, texts: list[str]) -> list[Finding]:
    """Share of byte-fallback tokens: characters missing from the 32k vocabularies cost a token per byte."""
    byte_ids = byte_piece_ids(tokenizer)
    sample = [t for t in texts[:2000] if t]
    if not byte_ids or not sample:
        return []
    encoded = tokenizer(sample, add_special_tokens=False)["input_ids"]
    total = sum(len(ids) for ids in encoded)
    fallback = sum(1 for ids in encoded for i in ids if i in byte_ids)
    share = fallback / max(total, 1)
    if share < 0.05:
        return []
    chars = sum(len(t) for t in sample)
    return [Finding(
        code="byte-fallback-heavy", severity="warning", source=SRC_BYTES,
        message=f"{share:.0%} of the tokens of your data are byte-fallback pieces ({chars / max(total, 1):.2f} "
        f"chars/token): characters missing from the {variant_of(facts).name} vocabulary cost one token per UTF-8 "
        "byte, so sequences are longer than they look; raise the cutoff length or budget tokens accordingly")]
