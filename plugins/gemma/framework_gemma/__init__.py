"""Gemma family plugin for ``framework``: Gemma 1, 2, 3 and 4 (text-only and the multimodal wrappers).

The same modules as every plugin of the project, each with one role, so a diff between two plugins
shows only family facts:

* ``plugin``: the hook implementations (the entry point), each a one-line call into a module below;
* ``detect``: config.json and the shipped chat template -> generation and size (``match``);
* ``chat``: the Gemma 1-3 and Gemma 4 chat formats as segments, chat features, stop tokens;
* ``tools``: Gemma 4's tool declarations, calls and results (Gemma 1-3 have no tool syntax);
* ``vocab``: control-token names and the fixed ids and vocabulary sizes of each generation;
* ``tokenizer``: synthetic Gemma tokenizers built offline (Google's files are gated);
* ``checks``: tokenizer, weight and data findings with their fixes;
* ``presets``: default hyperparameters with sources, load settings, LoRA targets;
* ``checkpoints``: config.json facts of Google's published checkpoints, for offline planning;
* ``rope``: how far each generation's context can be extended, and how.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
