"""Llama 3 family plugin for ``framework``: Llama 3, 3.1 (and the 3.3 70B that shares its config) and 3.2.

The hook implementations live in ``plugin`` (one line each); every other module holds one role,
the same in every family plugin, so a diff between two plugins shows only family facts:

* ``detect``: config.json and the shipped chat template -> generation (3 / 3.1 / 3.2) and chat format;
* ``chat``: the instruct format of each generation rendered as segments, chat features, stop tokens;
* ``tools``: 3.1+ tool declarations, JSON and ``<|python_tag|>`` calls, ``ipython`` results;
* ``vocab``: the 256 control tokens at ids 128000-128255 and the other fixed vocabulary facts;
* ``tokenizer``: the real tokenizer built offline from ``llama-models``' tiktoken file;
* ``checks``: pitfalls L1-L8 in tokenizer, weights and data;
* ``presets``: hyperparameters with sources, LoRA targets, load settings;
* ``checkpoints``: config.json facts of Meta's releases and the tiny offline demo model;
* ``rope``: the ``llama3`` RoPE scaling that extends a 3.0 model.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
