"""A stand-in Phi-3 tokenizer built offline, for tests and tiny models (the hooks never import this module).

Microsoft's tokenizer files are published on the Hugging Face Hub only (no PyPI package ships
them), so none can be fetched offline. Phi-3 reuses Llama 2's SentencePiece layout
(32,000 pieces; <unk>, <s>, </s> at 0, 1, 2) and adds eleven chat tokens at 32000-32010. The
stand-in takes the 32,000-piece SentencePiece file that mistral-common ships (Mistral 7B
v0.1's, the same layout with other pieces) and adds Phi-3's tokens at their real ids, so
control-token ids, the tokenizer length (32,011) and the pad/eos setup are Phi-3's; the ids of
ordinary text differ from the real tokenizer's.

The tiny checkpoints of ``framework_phi3.checkpoints`` are saved with this tokenizer.

Needs the ``test`` extra (mistral-common, transformers); heavy imports stay inside the function.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from framework_phi3.vocab import ADDED_TOKENS, BASE_VOCAB


@functools.lru_cache(maxsize=1)
def build_tokenizer() -> Any:
    """A fast tokenizer with Phi-3's special tokens, ids and pad/eos setup (see the module doc)."""
    import mistral_common
    from tokenizers import AddedToken, processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import SpmConverter, import_protobuf

    proto = import_protobuf().ModelProto()
    proto.ParseFromString((Path(mistral_common.__file__).parent / "data" / "tokenizer.model.v1").read_bytes())
    vocab = {piece.piece: i for i, piece in enumerate(proto.pieces)}
    assert len(vocab) == BASE_VOCAB, "expected a 32,000-piece SentencePiece model"
    backend = SpmConverter.build_tokenizer_from_spm_proto(proto, vocab, legacy=False)
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ("<unk>", "<s>", "</s>")])
    backend.add_special_tokens([AddedToken(t, special=True, normalized=False)
                                for t, _ in sorted(ADDED_TOKENS.items(), key=lambda item: item[1])])
    assert all(backend.token_to_id(t) == i for t, i in ADDED_TOKENS.items())
    backend.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                           special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<s>", eos_token="<|endoftext|>",
                                   unk_token="<unk>", pad_token="<|endoftext|>")
