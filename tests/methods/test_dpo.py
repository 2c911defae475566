"""DPO with TRL on plugin-rendered pairs: the reward margin rises, the adapter reloads, and the
ids TRL trains on are the template's own (one BOS, completions ending at the end-of-turn)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch

from framework.training.dpo import added_ids, build_dpo, end_at_stop, fit_for_trl
from framework.errors import ConfigError

IDS = torch.tensor([[5, 17, 42, 99, 7, 3, 250, 12]])
DPO_SETTINGS = ["training.max_steps=8", "training.learning_rate=5e-3", "dpo.beta=0.1"]


@pytest.fixture(scope="module")
def bos_model_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model whose tokenizer adds BOS to every text and whose template renders it too
    (as Llama-style tokenizers and templates both do)."""
    import shutil

    from tokenizers.processors import TemplateProcessing
    from transformers import AutoTokenizer

    directory = tmp_path_factory.mktemp("bos") / "tiny-bos"
    shutil.copytree(tiny_model_dir, directory)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    bos = tokenizer.bos_token_id
    tokenizer.backend_tokenizer.post_processor = TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    tokenizer.chat_template = "{{ bos_token }}" + tokenizer.chat_template
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def dpo_run(train: Any) -> Any:
    return train(method="lora", stage="dpo", sets=DPO_SETTINGS)


def test_reward_margin_rises_and_loss_falls(dpo_run: Any) -> None:
    m = dpo_run.metrics
    margins = [v for _, v in m["reward_margin_history"]]
    assert len(margins) == 8 and margins[0] == pytest.approx(0.0, abs=1e-6)  # the adapter starts as the reference
    assert m["reward_margin_last"] > m["reward_margin_first"] + 0.05, margins
    assert m["train_loss_first"] == pytest.approx(0.6931, abs=1e-3)  # -log sigmoid(0)
    assert m["train_loss_last"] < 0.66
    assert m["reward_accuracy_last"] > 0.5
    assert any(s.startswith("method lora (dpo, beta 0.1): trainable params:") for s in dpo_run.said)


def test_adapter_saved_and_reloads(dpo_run: Any, tiny_model_dir: Path) -> None:
    from framework.inference import load_run

    out = dpo_run.output_dir
    assert (out / "adapter_config.json").exists() and (out / "adapter_model.safetensors").exists()
    reloaded = load_run(out)
    assert reloaded.base_directory == tiny_model_dir
    model = dpo_run.model.eval()
    with torch.no_grad():
        assert torch.allclose(reloaded.model(input_ids=IDS).logits, model(input_ids=IDS).logits, atol=1e-5)


def test_completions_end_at_the_end_of_turn_token(run_plan: Any) -> None:
    setup = build_dpo(run_plan(stage="dpo", sets=DPO_SETTINGS), lambda _: None)
    tokenizer = setup.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert setup.fitted.end_token == "<|im_end|>"
    for row, source in zip(setup.trainer.train_dataset, setup.data.train):
        for name in ("chosen", "rejected"):
            ids = row[f"{name}_ids"]
            assert ids[-1] == end_id and tokenizer.eos_token_id not in ids  # no '</s>' after the turn
            # the rendered completion up to its end-of-turn (template text after it is never generated)
            assert ids == tokenizer(end_at_stop(source[name], ["<|im_end|>"])[0], add_special_tokens=False)["input_ids"]


def test_dpo_runs_without_dropout_and_the_plan_says_so(run_plan: Any) -> None:
    """TRL's DPO turns every dropout off (DPOConfig.disable_dropout): lora.dropout does not reach
    the LoRA layers TRL makes, and ``plan``'s dropout line says why instead of naming a kind."""
    plan = run_plan(stage="dpo", sets=[*DPO_SETTINGS, "lora.dropout=0.1"])
    assert plan.dropout[0] == "off" and "disable_dropout" in plan.dropout[1]
    setup = build_dpo(plan, lambda _: None)
    rates = {d.p for m in setup.trainer.model.modules() if hasattr(m, "lora_dropout") for d in m.lora_dropout.values()}
    assert rates == {0}


def test_no_double_bos(run_plan: Any, bos_model_dir: Path) -> None:
    setup = build_dpo(run_plan(stage="dpo", sets=DPO_SETTINGS, model=bos_model_dir), lambda _: None)
    tokenizer = setup.tokenizer
    bos = tokenizer.bos_token_id
    rendered = setup.data.train[0]["prompt"]
    assert rendered.startswith("<s>")
    assert tokenizer(rendered)["input_ids"][:2] == [bos, bos]  # the pitfall: TRL's call on the rendered prompt
    assert setup.fitted.bos_stripped == len(setup.data.train)
    row = setup.trainer.train_dataset[0]
    assert row["prompt_ids"] == tokenizer(rendered, add_special_tokens=False)["input_ids"]  # the template's ids
    batch = next(iter(setup.trainer.get_train_dataloader()))
    ids = batch["input_ids"]
    assert (ids[:, 0] == bos).all() and (ids[:, 1] != bos).all()
    assert int((ids == bos).sum()) == ids.shape[0]


def test_full_method_dpo_uses_a_frozen_reference_copy(train: Any) -> None:
    run = train(method="full", stage="dpo", sets=["training.max_steps=3", "training.learning_rate=1e-3"])
    assert (run.output_dir / "model.safetensors").exists()
    margins = [v for _, v in run.metrics["reward_margin_history"]]
    assert margins[0] == pytest.approx(0.0, abs=1e-6) and margins[-1] > margins[0]


def test_hybrid_and_length_schedule_are_refused_for_dpo(train: Any) -> None:
    with pytest.raises(ConfigError, match="hybrid"):
        train(method="hybrid", stage="dpo")
    with pytest.raises(ConfigError, match="seq_schedule"):
        train(method="lora", stage="dpo", seq_schedule="16:0.5,128:1.0")


def test_helpers(bos_model_dir: Path, tiny_model_dir: Path) -> None:
    from transformers import AutoTokenizer

    bos_tokenizer = AutoTokenizer.from_pretrained(bos_model_dir)
    plain_tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert added_ids(bos_tokenizer) == ([bos_tokenizer.bos_token_id], [])
    assert added_ids(plain_tokenizer) == ([], [])
    assert end_at_stop("Hi.<|im_end|>\n", ["<|im_end|>", "</s>"]) == ("Hi.<|im_end|>", "<|im_end|>")
    assert end_at_stop("Hi.<|im_end|> more", ["<|im_end|>"]) == ("Hi.<|im_end|> more", None)
    assert end_at_stop("Hi.", ["<|im_end|>"]) == ("Hi.", None)
    rows = {"prompt": ["User: hi\n"], "chosen": ["Yes.</s>"], "rejected": ["No.</s>"]}
    fitted = fit_for_trl(rows, bos_tokenizer, ["</s>"])
    assert fitted.bos_stripped == 0 and fitted.end_token == "</s>"
    assert any("does not render it" in note for note in fitted.notes)  # BOS the template lacks: reported
    mixed = fit_for_trl({"prompt": ["p"], "chosen": ["a</s>"], "rejected": ["b"]}, plain_tokenizer, ["</s>"])
    assert mixed.end_token is None and mixed.rows[0]["chosen"] == "a</s>"  # left to TRL's eos
