"""Phi-3 family plugin for ``framework``: Phi-3 mini/medium (4k and 128k context) and Phi-3.5-mini.

An example of a third-party plugin: a distribution of its own, found through the ``framework``
entry point, tested with ``framework.testing.PluginContract``, in the shape every in-tree plugin
has and ``framework new-plugin`` generates. The entry point's module is ``framework_phi3.plugin``
(the hook implementations, one line each); the knowledge lives in modules with one role each:
``detect`` (config.json and shipped-template evidence: Phi-3, which context layout, who renders
the chat), ``chat`` (the chat format, stop tokens, chat features), ``tools`` (why Phi-3 has no
tool syntax and what its template does with tool data), ``vocab`` (control tokens, ids, sizes),
``tokenizer`` (an offline stand-in tokenizer for tests), ``checks`` (tokenizer and data
pitfalls), ``presets`` (defaults, load settings, LoRA targets), ``checkpoints`` (published
configs and the tiny offline model) and ``rope`` (LongRoPE and the sliding window).
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
