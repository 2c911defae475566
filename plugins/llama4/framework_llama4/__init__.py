"""Llama 4 family plugin for ``framework``: Llama 4 Scout (16 experts) and Maverick (128 experts).

The hook implementations live in ``plugin`` (one line each); every other module holds one role,
the same in every family plugin, so a diff between two plugins shows only family facts:

* ``detect``: config.json (wrapper or text-only) and the shipped chat template -> Scout / Maverick;
* ``chat``: the launch instruct format rendered as segments, chat features, stop tokens;
* ``tools``: tool declarations, ``<|python_start|>``-fenced JSON calls, ``ipython`` results;
* ``vocab``: the 2,048 control tokens from id 200000 and the other fixed vocabulary facts;
* ``tokenizer``: the real tokenizer built offline from ``llama-models``' tiktoken file;
* ``checks``: BOS, end-of-turn and pad findings on the tokenizer;
* ``presets``: hyperparameters with sources, LoRA targets (fused experts as parameters), load settings;
* ``checkpoints``: config.json facts of the Scout and Maverick releases;
* ``rope``: native context, refusal beyond it, chunked-attention and temperature-tuning warnings.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
