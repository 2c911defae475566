"""The result of data preparation, shared by every training stage."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from framework.data.validate import DataReport
from framework.hookdata import RenderedChat

if TYPE_CHECKING:
    import datasets

#: The selected plugin's chat template, bound by the runner: messages -> rendered segments.
Renderer = Callable[[list[dict[str, str]]], RenderedChat]


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
