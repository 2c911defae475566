"""A sequence schedule shorter than the prompts is found before training (issue 12, item 6)."""

from __future__ import annotations

import pytest

from framework.chat import IGNORE_INDEX
from framework.errors import ConfigError
from framework.seq_schedule import check_schedule, first_trained_positions


def _rows(prompts: list[int], reply: int = 4):
    from datasets import Dataset

    ids = [list(range(p + reply)) for p in prompts]
    labels = [[IGNORE_INDEX] * p + list(range(p, p + reply)) for p in prompts]
    return Dataset.from_dict({"input_ids": ids, "labels": labels})


def test_first_trained_position_per_row_from_arrow() -> None:
    rows = _rows([0, 3, 10])
    assert first_trained_positions(rows).tolist() == [1, 3, 10]  # position 0 is never trained
    assert first_trained_positions(rows.select([2, 0])).tolist() == [10, 1]  # a selection reads its own rows


def test_a_first_length_shorter_than_every_prompt_is_refused() -> None:
    with pytest.raises(ConfigError) as err:
        check_schedule("8:0.5,64:1.0", _rows([12, 20, 30]))
    line = err.value.line()
    assert line.startswith("data.seq_schedule: the schedule starts at 8 tokens, but none of the 3 training samples")
    assert "start the schedule at 13 tokens or more" in line


def test_some_prompts_longer_than_a_length_are_counted_per_length() -> None:
    said: list[str] = []
    check_schedule("8:0.3,16:0.6,64:1.0", _rows([2, 12, 20, 30]), said.append)
    assert said == ["[warning] data.seq_schedule: training samples with no trained token within the scheduled length "
                    "(left out of batches in that phase): 3 of 4 at 8, 2 of 4 at 16"]


def test_nothing_to_say_without_a_schedule_or_labels() -> None:
    from datasets import Dataset

    said: list[str] = []
    check_schedule(None, _rows([30]), said.append)
    check_schedule("8:1.0", Dataset.from_dict({"prompt": ["a"], "chosen": ["b"]}), said.append)
    check_schedule("64:1.0", _rows([2, 30]), said.append)
    assert said == []
