"""Qwen family plugin for ``framework``: detection (config, name, shipped template), ChatML rendering with
reasoning and tools (``chat``, ``tools``: Qwen1.5 to Qwen3.8), pitfalls, defaults and
the Qwen3.5 architecture (``presets``, ``checkpoints``).

The plugin is loaded through the ``framework`` entry point ``qwen`` (``framework_qwen.plugin``);
the other modules hold one concern each and are importable on their own for tests.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
