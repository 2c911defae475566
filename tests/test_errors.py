"""A user error is one line even when it quotes the user's own values."""

from __future__ import annotations

from framework.errors import DataError


def test_line_breaks_from_user_values_are_shown_escaped() -> None:
    error = DataError("messages[2].tool_calls[0] calls 'look\nup', which the sample's tools do not declare",
                      where="train.jsonl:7", hint="declare the tool\r\nor fix the call")
    assert "\n" not in str(error) and "\r" not in str(error)
    assert str(error) == ("train.jsonl:7: messages[2].tool_calls[0] calls 'look\\nup', which the sample's tools do "
                          "not declare. declare the tool\\r\\nor fix the call")
