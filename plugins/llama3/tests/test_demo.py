"""The demo model: built once, atomically, loadable, and selected as Llama 3 by the plugin host."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest

from framework.errors import UserError
from framework.facts import facts_from_config, read_config
from framework.plugins import make_plugin_host
from framework_llama3 import demo, plugin
from framework_llama3.tokenizer import tiktoken_file


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("cache")
    started = time.perf_counter()
    result = plugin.provide_demo_model(cache)
    assert time.perf_counter() - started < 30  # seconds, even on a busy CI machine
    assert result.name == demo.DEMO_NAME and result.identity_prompt is None
    path = Path(result.path)
    assert path == cache / demo.DEMO_DIR
    assert [p.name for p in cache.iterdir()] == [demo.DEMO_DIR]  # no staging directory left behind
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
    stale = demo_dir.parent / demo.OLD_DIRS[0]
    (stale / "model.safetensors").parent.mkdir()
    (stale / "model.safetensors").write_bytes(b"old build")
    assert plugin.provide_demo_model(demo_dir.parent).path == str(demo_dir)
    assert not stale.exists(), "an earlier demo build is removed once the current one is in place"
    assert (demo_dir / "model.safetensors").stat().st_mtime_ns == stamp


def test_incomplete_copy_is_rebuilt_identically(demo_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    broken = tmp_path / demo.DEMO_DIR
    broken.mkdir()
    (broken / "config.json").write_text("{}")
    assert Path(demo.provide(tmp_path).path) == broken
    first, second = load_file(demo_dir / "model.safetensors"), load_file(broken / "model.safetensors")
    assert first.keys() == second.keys() and all((first[k] == second[k]).all() for k in first)  # seeded


def test_missing_llama_models_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "llama_models", None)
    with pytest.raises(UserError, match=r'pip install "framework-llama3\[demo\]"'):
        tiktoken_file()


def test_demo_has_no_untrained_format_rows(demo_dir: Path, loaded: tuple[Any, Any]) -> None:
    model, tok = loaded
    facts = facts_from_config(read_config(demo_dir), "demo")
    assert plugin.check_model(facts, model, tok) == []
    codes = {f.code for f in plugin.check_tokenizer(facts, tok)}
    assert codes == {"bos-added-on-encode"}  # no warning about the demo's own files on a newcomer's first run
