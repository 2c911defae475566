"""Build the real Mistral vocabularies as fast tokenizers offline, from the files mistral-common ships.

Mistral's own tokenizer library, ``mistral-common`` (on PyPI), carries the tokenizer files of
the published generations under ``mistral_common/data/``, so tests and tiny models get the
real ids without a download:

* ``tokenizer.model.v1`` (sentencepiece, 32000; 7B v0.1/v0.2, Mixtral 8x7B),
* ``mistral_instruct_tokenizer_240323.model.v3`` (sentencepiece, 32768, ``[INST]``/``[/INST]``
  are control tokens 3/4; 7B v0.3),
* ``tekken_240718.json`` (Tekken, 131072; NeMo), converted by transformers' own converter.

Sentencepiece files are converted with ``SpmConverter.build_tokenizer_from_spm_proto`` in two
modes, because Hub tokenizer.json files exist in both: ``first`` (dummy prefix on the first
chunk only; the mode whose render-then-tokenize ids equal mistral-common's) and ``legacy``
(dummy prefix on every chunk between special tokens). Control pieces become special added
tokens, and a ``<s> $A`` post-processor adds BOS like the Hub files do.

The Tekken files of tokenizer v7, v11 and v13 (Small 3.x, Magistral, Ministral 3) are published
on the Hub only: ``later_tekken_raw`` is NeMo's file with the later control tokens written into
its special ranks at the ranks mistral-common's own test fixtures use (``vocab.LATER_CONTROL_RANKS``),
a stand-in whose byte-level BPE is the real one and whose control ranks are unverified.

Heavy imports (transformers, tokenizers, mistral-common) happen inside the functions.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.errors import UserError

from framework_mistral.vocab import BOS, EOS, LATER_CONTROL_RANKS, UNK

INSTALL_HINT = 'pip install "framework-mistral[tokenizer]"'
#: mistral-common's ``ModelProto`` piece types that are special: unknown (2) and control (3).
SPECIAL_PIECE_TYPES = (2, 3)


def mistral_data(name: str) -> Path:
    """A tokenizer file mistral-common ships, or a UserError saying how to install it."""
    try:
        import mistral_common
    except ImportError:
        raise UserError("the Mistral tokenizer files are not installed (mistral-common is missing)",
                        hint=INSTALL_HINT) from None
    path = Path(mistral_common.__file__).parent / "data" / name
    if not path.is_file():
        raise UserError(f"mistral-common {getattr(mistral_common, '__version__', '?')} has no tokenizer file {name}",
                        where=str(path), hint=f"upgrade it: {INSTALL_HINT}")
    return path


def spm_proto(name: str) -> Any:
    """The parsed sentencepiece model of a mistral-common file (``tokenizer.model.v1``, ...)."""
    from transformers.convert_slow_tokenizer import import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString(mistral_data(name).read_bytes())
    return proto


def sentencepiece_tokenizer(path: Path, mode: str) -> Any:
    """A fast tokenizer from a sentencepiece model, ``mode`` "first" or "legacy" (see module doc)."""
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString(path.read_bytes())
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=mode == "legacy")
    control = [p.piece for p in proto.pieces if p.type in SPECIAL_PIECE_TYPES]
    backend.add_special_tokens([AddedToken(c, special=True, normalized=False) for c in control])
    backend.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, vocab[BOS])])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS, eos_token=EOS, unk_token=UNK)


def tekken_tokenizer(path: Path) -> Any:
    """A Tekken JSON file through transformers' tekken converter, without a chat template (about 4 s)."""
    from transformers.integrations.mistral.tokenizer import convert_tekken_tokenizer

    return convert_tekken_tokenizer(str(path), chat_template="")


def later_tekken_raw() -> dict[str, Any]:
    """``tekken_240718.json`` with the special-token list of the later versions (ranks 0-999)."""
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    raw = json.loads(mistral_data("tekken_240718.json").read_text(encoding="utf-8"))
    named = {int(t["rank"]): str(getattr(t["token_str"], "value", t["token_str"]))
             for t in Tekkenizer.DEPRECATED_SPECIAL_TOKENS}
    named.update({rank: token for token, rank in LATER_CONTROL_RANKS.items()})
    count = raw["config"]["default_num_special_tokens"]
    raw["special_tokens"] = [{"rank": r, "token_str": named.get(r, f"<SPECIAL_{r}>"), "is_control": True}
                             for r in range(count)]
    return raw


def tekken_file(directory: Path, version: str, raw: dict[str, Any] | None = None) -> Path:
    """``tekken_240718.json`` relabelled as tokenizer ``version`` with the later control tokens added."""
    raw = dict(raw or later_tekken_raw())
    raw["config"] = {**raw["config"], "version": version}
    path = directory / f"tekken_{version}.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    return path
