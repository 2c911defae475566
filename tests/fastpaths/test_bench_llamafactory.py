"""bench/llamafactory_side.py without installing LLaMA-Factory: the YAML carries the bench's settings, and
its saved tokenized dataset is read back row for row."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def side() -> Any:
    spec = importlib.util.spec_from_file_location("llamafactory_side", REPO / "bench" / "llamafactory_side.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_yaml_has_the_same_settings_and_a_dataset_info(side: Any, tmp_path: Path) -> None:
    data = tmp_path / "train.jsonl"
    data.write_text(json.dumps({"instruction": "hi", "input": "", "output": "yo"}) + "\n")
    config, out = side.write_config(tmp_path, "0", tmp_path / "model", data, cutoff=512, seed=42, max_steps=20)
    settings = yaml.safe_load(config.read_text())
    assert settings["cutoff_len"] == 512 and settings["seed"] == 42 and settings["max_steps"] == 20
    assert (settings["lora_rank"], settings["lora_alpha"], settings["lora_target"]) == (16, 32, "all")
    assert settings["per_device_train_batch_size"] == 4 and settings["learning_rate"] == 1e-4
    assert settings["template"] == "llama3" and settings["bf16"] is False
    assert settings["include_num_input_tokens_seen"] == "non_padding"
    assert settings["output_dir"] == str(out) and "tokenized_path" not in settings
    info = json.loads((Path(settings["dataset_dir"]) / "dataset_info.json").read_text())
    assert info == {settings["dataset"]: {"file_name": "train.jsonl"}}
    assert (Path(settings["dataset_dir"]) / "train.jsonl").read_text() == data.read_text()


def test_tokenized_rows_are_read_back_from_save_to_disk(side: Any, tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    rows = {"input_ids": [[1, 2, 3], [4, 5]], "labels": [[-100, 2, 3], [-100, 5]], "attention_mask": [[1, 1, 1], [1, 1]]}
    DatasetDict({"train": Dataset.from_dict(rows)}).save_to_disk(str(tmp_path / "tok"))
    assert side.tokenized_rows(tmp_path / "tok") == [((1, 2, 3), (-100, 2, 3)), ((4, 5), (-100, 5))]
    with pytest.raises(SystemExit, match="no tokenized dataset"):
        side.tokenized_rows(tmp_path / "missing")
