"""A plugin-based LLM fine-tuning framework: a small core, one plugin per model family.

Public API for plugin authors: ``hookimpl`` (the marker), the data types in
``framework.hookdata`` and ``HOOK_API_VERSION``. Nothing here imports torch.
"""

from framework.hookdata import HOOK_API_VERSION
from framework.hookspecs import NAME, hookimpl

__version__ = "0.1.0"

__all__ = ["HOOK_API_VERSION", "NAME", "__version__", "hookimpl"]
