"""Error types. A ``UserError`` is something the user can fix: the CLI prints its one line and
exits 2 with no traceback (unless ``--debug``). Anything else is a bug: exit 1."""

from __future__ import annotations


class FrameworkError(Exception):
    """Base of every error the framework raises on purpose."""


class UserError(FrameworkError):
    """Bad input: one line that says what is wrong, where, and what to do. Exit code 2."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, hint: str | None = None) -> None:
        self.what = what
        self.where = where
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        """The one line the user sees: ``where: what. hint``.

        Line breaks that come from the user's own values (a role, a tool name, a file name) are
        shown escaped, so a message quoting them still stays one line.
        """
        text = f"{self.where}: {self.what}" if self.where else self.what
        if self.hint:
            text = f"{text.rstrip('.')}. {self.hint}"
        return text.replace("\r", "\\r").replace("\n", "\\n")


class ConfigError(UserError):
    """A configuration value or combination is invalid."""


class DataError(UserError):
    """A data file or record is invalid."""


class ModelError(UserError):
    """A model path, hub id or architecture cannot be used."""


class PluginError(FrameworkError):
    """A plugin misbehaved: raised inside a hook or returned malformed data.

    The message names the plugin, its distribution and version, and the hook.
    """

    exit_code = 1


class SelectionError(UserError):
    """No plugin, or more than one plugin equally, claims the model."""
