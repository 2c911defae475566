"""Build the real Llama 3 fast tokenizer offline, from the tiktoken file Meta ships.

Meta's ``llama-models`` package carries ``llama3/tokenizer.model`` (the 128,000 BPE ranks).
Converting it with transformers' ``TikTokenConverter`` and adding the 256 control tokens
gives the same token ids as the Hub tokenizers, which is what the demo model and the tests
need without a download. The conversion (deriving BPE merges from ranks) takes about two
seconds, so the converted base is cached per process and copied for each generation.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from framework.errors import UserError
from framework_llama3.vocab import BOS, EOT, END_OF_TEXT, NATIVE_CONTEXT, SPLIT_PATTERN, control_tokens

INSTALL_HINT = 'pip install "framework-llama3[demo]"'


def tiktoken_file() -> Path:
    """``llama_models/llama3/tokenizer.model``, or a UserError saying how to install it."""
    try:
        import llama_models
        import tiktoken  # noqa: F401  (the converter reads the file with it)
    except ImportError as exc:
        raise UserError(
            f"the Llama 3 tokenizer file is not installed ({exc.name} is missing)", hint=INSTALL_HINT
        ) from None
    path = Path(llama_models.__file__).parent / "llama3" / "tokenizer.model"
    if not path.is_file():
        raise UserError("llama-models is installed but has no llama3/tokenizer.model", where=str(path),
                        hint=f"reinstall it: {INSTALL_HINT}")
    return path


@functools.lru_cache(maxsize=1)
def _base_tokenizer_json() -> str:
    """The converted BPE (no control tokens) as tokenizer.json text, computed once per process."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    converted = TikTokenConverter(vocab_file=str(tiktoken_file()), pattern=SPLIT_PATTERN).converted()
    return converted.to_str()


def build_llama3_tokenizer(version: str = "3", *, instruct: bool = False) -> Any:
    """A ``PreTrainedTokenizerFast`` equal to Meta's Hub tokenizer of a Llama 3 generation.

    Args:
        version: ``"3"`` (Meta-Llama-3-*) or ``"3.1"``/``"3.2"`` (named control tokens differ).
        instruct: eos ``<|eot_id|>`` as in the Instruct repos; else ``<|end_of_text|>`` (base).

    Like the Hub files it has no pad token, no chat template, and a post-processor that
    prepends ``<|begin_of_text|>`` on ``tokenizer(text)``.
    """
    from tokenizers import AddedToken, Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    if version not in NATIVE_CONTEXT:
        raise ValueError(f"unknown Llama 3 version {version!r}; expected one of {sorted(NATIVE_CONTEXT)}")
    backend = Tokenizer.from_str(_base_tokenizer_json())
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in control_tokens(version)])
    bos_id = backend.token_to_id(BOS)
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(
            single=f"{BOS} $A", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, bos_id)]
        ),
    ])
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=BOS,
        eos_token=EOT if instruct else END_OF_TEXT,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=NATIVE_CONTEXT[version],
        # Meta's files say True; transformers 5 ignores it for byte-level BPE (with a warning) because
        # the clean-up would strip spaces before punctuation, so False gives the same decoding, quietly.
        clean_up_tokenization_spaces=False,
    )
