"""The plugin kit's test suite: what every family plugin must do, as tests it inherits.

``PluginContract`` is a pytest base class; a plugin's tests subclass it (see its docstring and
docs/plugins.md). The checks themselves live in ``framework.testing.problems`` as functions
that return the problems they find, so they can be reused outside pytest.
"""

from framework.testing.calls import NOT_IMPLEMENTED, PluginUnderTest
from framework.testing.contract import PluginContract
from framework.testing.conversations import SAMPLE_CONVERSATIONS, SAMPLE_TEXTS

__all__ = ["NOT_IMPLEMENTED", "SAMPLE_CONVERSATIONS", "SAMPLE_TEXTS", "PluginContract", "PluginUnderTest"]
