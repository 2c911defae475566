"""Build the real Llama 4 fast tokenizer offline, from the tiktoken file Meta ships.

Meta's ``llama-models`` package carries ``llama4/tokenizer.model`` (200,000 BPE ranks) and the
list of 2,048 control tokens in ``llama4/tokenizer.py``. Converting the ranks with transformers'
``TikTokenConverter`` (the o200k split pattern) and appending the control tokens in Meta's order
gives the ids of Meta's tokenizer (202,048 tokens), which tests and tiny models need without a
download. The conversion takes a few seconds, so the converted base is cached per process.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from framework.errors import UserError
from framework_llama4.vocab import BOS, END_OF_TEXT, EOT, NUM_CONTROL_TOKENS, SPLIT_PATTERN

INSTALL_HINT = 'pip install "framework-llama4[tokenizer]"'


def tiktoken_file() -> Path:
    """``llama_models/llama4/tokenizer.model``, or a UserError saying how to install it."""
    try:
        import llama_models
        import tiktoken  # noqa: F401  (the converter reads the file with it)
    except ImportError as exc:
        raise UserError(f"the Llama 4 tokenizer file is not installed ({exc.name} is missing)",
                        hint=INSTALL_HINT) from None
    path = Path(llama_models.__file__).parent / "llama4" / "tokenizer.model"
    if not path.is_file():
        raise UserError("llama-models is installed but has no llama4/tokenizer.model", where=str(path),
                        hint=f"reinstall it: {INSTALL_HINT}")
    return path


def control_tokens() -> list[str]:
    """The 2,048 control-token strings in id order (id = 200000 + index), as Meta's tokenizer lists them."""
    tiktoken_file()
    from llama_models.llama4.tokenizer import BASIC_SPECIAL_TOKENS, LLAMA4_SPECIAL_TOKENS

    named = [*BASIC_SPECIAL_TOKENS, *LLAMA4_SPECIAL_TOKENS]
    return named + [f"<|reserved_special_token_{i}|>" for i in range(NUM_CONTROL_TOKENS - len(named))]


@functools.lru_cache(maxsize=1)
def _base_tokenizer_json() -> str:
    """The converted BPE (no control tokens) as tokenizer.json text, computed once per process."""
    from transformers.convert_slow_tokenizer import TikTokenConverter

    return TikTokenConverter(vocab_file=str(tiktoken_file()), pattern=SPLIT_PATTERN).converted().to_str()


def build_llama4_tokenizer(*, instruct: bool = True) -> Any:
    """A ``PreTrainedTokenizerFast`` with the ids of Meta's Llama 4 tokenizer.

    Args:
        instruct: eos ``<|eot|>`` as the Instruct checkpoints stop; else ``<|end_of_text|>``.

    It has no pad token and no chat template (the checks and the plugin's renderer supply them),
    and prepends ``<|begin_of_text|>`` on ``tokenizer(text)`` like the Llama 3 Hub tokenizers.
    """
    from tokenizers import AddedToken, Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer.from_str(_base_tokenizer_json())
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in control_tokens()])
    bos_id = backend.token_to_id(BOS)
    backend.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single=f"{BOS} $A", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1",
                                      special_tokens=[(BOS, bos_id)]),
    ])
    return PreTrainedTokenizerFast(tokenizer_object=backend, bos_token=BOS, eos_token=EOT if instruct else END_OF_TEXT,
                                   model_input_names=["input_ids", "attention_mask"],
                                   clean_up_tokenization_spaces=False)
