"""Config precedence, provenance and error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from framework.config import Layer, RunConfig, core_layer, load_yaml_layer, parse_set, resolve, valid_keys
from framework.errors import ConfigError


def test_precedence_core_plugin_file_cli(tmp_path: Path) -> None:
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text("training:\n  learning_rate: 3.0e-4\n  epochs: 2\nlora:\n  r: 32\n", encoding="utf-8")
    resolved = resolve([
        core_layer(),
        Layer("plugin:fam", {"lora.r": 16, "lora.alpha": 32, "training.learning_rate": 1e-4}),
        load_yaml_layer(yaml_file),
        Layer("cli", parse_set(["lora.r=64"])),
    ])
    cfg = resolved.config
    assert (cfg.lora.r, cfg.lora.alpha, cfg.training.learning_rate, cfg.training.epochs) == (64, 32, 3e-4, 2)
    sources = {k: s for k, _, s in resolved.items()}
    assert sources["lora.r"] == "cli"
    assert sources["lora.alpha"] == "plugin:fam"
    assert sources["training.learning_rate"] == "file:run.yaml"
    assert sources["training.seed"] == "core"


def test_all_errors_at_once_with_key_value_and_location(tmp_path: Path) -> None:
    yaml_file = tmp_path / "bad.yaml"
    yaml_file.write_text("training:\n  learning_rat: 1\n  epochs: -1\nmethod: lorra\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        resolve([core_layer(), load_yaml_layer(yaml_file)])
    line = info.value.line()
    assert "\n" not in line
    assert "3 config problems" in line
    assert f"{yaml_file}:2: unknown key 'training.learning_rat' (did you mean 'training.learning_rate'?)" in line
    assert "training.epochs=-1" in line and f"{yaml_file}:3" in line
    assert "method='lorra'" in line and "'lora'" in line


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    yaml_file = tmp_path / "broken.yaml"
    yaml_file.write_text("training:\n  learning_rate: [1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"broken.yaml:\d+:\d+: invalid YAML"):
        load_yaml_layer(yaml_file)


def test_set_requires_key_value() -> None:
    with pytest.raises(ConfigError, match="key=value"):
        parse_set(["training.learning_rate"])


def test_every_field_is_described() -> None:
    from framework.config import describe_keys

    missing = [k for k, text in describe_keys().items() if not text]
    assert not missing


def test_unknown_plugin_key_is_an_error() -> None:
    with pytest.raises(ConfigError, match="plugin:x: unknown key 'lora.rank'"):
        resolve([core_layer(), Layer("plugin:x", {"lora.rank": 8})])


def test_valid_keys_cover_sections() -> None:
    keys = valid_keys()
    assert "training.learning_rate" in keys and "lora.r" in keys and "method" in keys
    assert RunConfig().method == "lora"
