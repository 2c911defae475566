"""Mistral family plugin for framework: Mistral 7B v0.1-v0.3, NeMo, Mixtral, Small 3.1/3.2/4,
Magistral, Ministral 3 and Devstral.

``framework_mistral.plugin`` is the entry point and holds only the hook implementations; each
concern has its own module, the same list in every family plugin of this repository:

* ``detect``: config.json and the shipped chat template -> variant and chat format;
* ``chat``: the ``[INST]`` formats of every generation (sentencepiece v1/v3, Tekken, v7/v11/v13)
  as segments, chat features, stop tokens;
* ``tools``: tool declarations, calls and results as mistral-common serialises them;
* ``vocab``: vocabulary sizes, control-token names and ids;
* ``tokenizer``: the real vocabularies as fast tokenizers, built offline from mistral-common's files;
* ``checks``: tokenizer, weight and data pitfalls;
* ``presets``: hyperparameters with sources, LoRA targets, load settings;
* ``checkpoints``: config.json facts of the published checkpoints for offline planning;
* ``rope``: how a model reaches a training length (native, YaRN, refuse).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
