"""The result of data preparation, shared by every training stage."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from framework.data.validate import DataReport
from framework.hookdata import RenderedChat

if TYPE_CHECKING:
    import datasets

    from framework.data.formats import Example

#: The selected plugin's chat template, bound by the runner: messages -> rendered segments.
#: Called as ``render(messages)`` for a plain sample and ``render(messages, tools, options)``
#: for one with tool declarations or template options (``enable_thinking``), so a renderer
#: that only knows plain text keeps working for plain data.
Renderer = Callable[..., RenderedChat]


def render_sample(render: Renderer, messages: Sequence[dict[str, Any]], example: Example) -> RenderedChat:
    """Render (part of) a sample's conversation with the sample's tools and template options.

    A renderer's one-line error (a shipped template that raises on this conversation) gets the
    sample's file:line in front, so the user knows which sample and which template line.
    """
    from framework.errors import UserError

    try:
        if example.tools is None and not example.options:
            return render(list(messages))
        return render(list(messages), list(example.tools) if example.tools else None, dict(example.options))
    except UserError as exc:
        what = f"{exc.where}: {exc.what}" if exc.where else exc.what
        raise type(exc)(what, where=f"{example.source}:{example.line}", hint=exc.hint) from None


@dataclass
class PreparedData:
    """Training and evaluation sets ready for the trainer, and what happened on the way.

    ``sample_texts`` holds up to a few thousand message texts for the family's
    ``check_data`` hook.
    """

    train: datasets.Dataset
    eval: datasets.Dataset | None
    report: DataReport
    sample_texts: list[str] = field(default_factory=list)
