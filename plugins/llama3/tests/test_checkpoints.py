"""Published checkpoints equal the official config.json files and build to the announced sizes; the demo model is
built once, atomically, loadable, and selected as Llama 3 by the plugin host."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from framework.facts import facts_from_config, read_config
from framework.plugins import make_plugin_host
from framework_llama3 import checkpoints, plugin


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    started = time.perf_counter()
    result = plugin.provide_demo_model(cache)
    assert time.perf_counter() - started < 30  # seconds, even on a busy CI machine
    assert result.name == checkpoints.DEMO_NAME and result.identity_prompt is None
    path = Path(result.path)
    assert path == cache / checkpoints.DEMO_DIR
    assert [p.name for p in cache.iterdir()] == [checkpoints.DEMO_DIR]  # no staging directory left behind
    return path


@pytest.fixture(scope="module")
def loaded(demo_dir: Path) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(demo_dir), AutoTokenizer.from_pretrained(demo_dir)


def test_demo_loads_with_auto_classes(demo_dir: Path, loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    assert model.config.vocab_size == 128256 and model.config.tie_word_embeddings
    assert model.get_input_embeddings().weight.dtype.is_floating_point
    assert len(tok) == 128256 and tok.bos_token == "<|begin_of_text|>" and tok.eos_token == "<|eot_id|>"
    assert tok.pad_token == "<|reserved_special_token_0|>" and not tok.chat_template
    assert model.generation_config.eos_token_id == [128001, 128009] and model.config.pad_token_id == 128002
    assert tok("x")["input_ids"][0] == 128000
    assert tok.convert_tokens_to_ids(["<|start_header_id|>", "<|eot_id|>", "<|reserved_special_token_250|>"]) == [
        128006, 128009, 128255]
    assert (demo_dir / "model.safetensors").is_file()


def test_demo_is_selected_as_llama3(demo_dir: Path) -> None:
    facts = facts_from_config(read_config(demo_dir), str(demo_dir))
    selection = make_plugin_host().select(facts)
    assert selection.name == "llama3" and selection.match.variant == "3"


def test_demo_is_reused_not_rebuilt(demo_dir: Path) -> None:
    stamp = (demo_dir / "model.safetensors").stat().st_mtime_ns
    stale = demo_dir.parent / checkpoints.OLD_DIRS[0]
    (stale / "model.safetensors").parent.mkdir()
    (stale / "model.safetensors").write_bytes(b"old build")
    assert plugin.provide_demo_model(demo_dir.parent).path == str(demo_dir)
    assert not stale.exists(), "an earlier demo build is removed once the current one is in place"
    assert (demo_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_incomplete_copy_is_rebuilt_identically(demo_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    broken = tmp_path / checkpoints.DEMO_DIR
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    assert Path(checkpoints.provide_demo_model(tmp_path).path) == broken
    first, second = load_file(demo_dir / "model.safetensors"), load_file(broken / "model.safetensors")
    assert first.keys() == second.keys() and all((first[k] == second[k]).all() for k in first)  # seeded


def test_demo_has_no_untrained_format_rows(demo_dir: Path, loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    facts = facts_from_config(read_config(demo_dir), "demo")
    assert plugin.check_model(facts, model, tok) == []
    codes = {f.code for f in plugin.check_tokenizer(facts, tok)}
    assert codes == {"bos-added-on-encode"}  # no warning about the demo's own files on a newcomer's first run


@pytest.mark.parametrize(("name", "hub_id"), [
    ("Meta-Llama-3-8B", "meta-llama/Meta-Llama-3-8B"),
    ("Meta-Llama-3-8B-Instruct", "meta-llama/Meta-Llama-3-8B-Instruct"),
    ("Llama-3.1-8B-Instruct", "meta-llama/Llama-3.1-8B-Instruct"),
    ("Llama-3.2-1B-Instruct.mlc", "meta-llama/Llama-3.2-1B-Instruct"),
    ("Llama-3.2-3B-Instruct", "meta-llama/Llama-3.2-3B-Instruct"),
])
def test_published_configs_match_the_official_files(name: str, hub_id: str, official_config: Any) -> None:
    ours, official = checkpoints.known_model_configs()[hub_id], official_config(name)
    keys = set(ours) & set(official) - {"_source", "transformers_version"}
    assert {k: ours[k] for k in keys} == {k: official[k] for k in keys}
    assert len(keys) >= 20


PARAMS_B = {  # parameter counts, billions (Meta's model cards: 8.03 / 70.6 / 1.24 / 3.21)
    "meta-llama/Meta-Llama-3-8B": 8.03, "meta-llama/Meta-Llama-3-70B-Instruct": 70.55,
    "meta-llama/Llama-3.1-70B": 70.55, "meta-llama/Llama-3.2-1B": 1.24, "meta-llama/Llama-3.2-3B": 3.21,
}


def test_every_published_config_is_llama3_and_builds() -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    table = plugin.known_model_configs()
    assert len(table) == 13 and all(cfg["_source"] for cfg in table.values())
    for hub_id, cfg in table.items():
        expected = "3" if "Meta-Llama-3-" in hub_id else hub_id.split("Llama-")[1][:3].replace("3.3", "3.1")
        assert plugin.match_model(facts_from_config(cfg, hub_id)).variant == expected, hub_id
        if hub_id in PARAMS_B:
            with torch.device("meta"):
                model = LlamaForCausalLM(LlamaConfig(**{k: v for k, v in cfg.items() if k != "_source"}))
            assert sum(p.numel() for p in model.parameters()) / 1e9 == pytest.approx(PARAMS_B[hub_id], abs=0.01)
