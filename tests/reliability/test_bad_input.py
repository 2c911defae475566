"""Every bad input ends in ONE line on stderr, exit code 2, and nothing already written touched.

Each case runs the real command line in-process (``framework run``, ``check`` or ``plan``). Run
cases write into an output directory that already holds a file of the user's; after the
refusal that directory and every input file are byte for byte what they were. The data module
tests each data problem at function level (tests/data/); here a representative set goes
through the CLI. docs/reliability.md lists these cases with the message each one prints.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
from pathlib import Path

import pytest

from framework.cli import main

GOOD_ROWS = [{"instruction": f"Say number {i}.", "input": "", "output": f"Number {i} it is."} for i in range(8)]


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


#: file name -> contents (bytes or text) of the bad data files
BAD_FILES: dict[str, bytes | str] = {
    "good.jsonl": _jsonl(GOOD_ROWS),
    "malformed.jsonl": '{"instruction": "a", "output": "b"}\n{"instruction": "a", "output": }\n',
    "malformed.json": '[{"instruction": "a", "output": "b"},\n {"instruction": "a" "output": "b"}]',
    "no_output.csv": "instruction\nhi\nhey\n",
    "types.jsonl": _jsonl([{"instruction": 5, "output": ["x"]}]),
    "empty.jsonl": "",
    "latin1.jsonl": b'{"instruction": "caf\xe9", "output": "b"}\n',
    "roles.jsonl": _jsonl([{"messages": [{"role": "wizard", "content": "hi"}, {"role": "assistant", "content": "yo"}]}]),
    "order.jsonl": _jsonl([{"messages": [{"role": "user", "content": "hi"}, {"role": "user", "content": "again"},
                                         {"role": "assistant", "content": "yo"}]}]),
    "reasoning.jsonl": _jsonl([{"messages": [{"role": "user", "content": "hi"},
                                             {"role": "assistant", "content": "<think>greet back</think>yo"}]}]),
    "tool_args.jsonl": _jsonl([{"messages": [
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "w", "arguments": "{city: 1}"}}]},
        {"role": "tool", "content": "sun"}, {"role": "assistant", "content": "sunny"}]}]),
    "no_rejected.jsonl": _jsonl([{"prompt": "hi", "chosen": "good"}]),
    "preference.jsonl": _jsonl([{"prompt": "hi", "chosen": "good", "rejected": "bad"}]),
    "long.jsonl": _jsonl([{"instruction": "word " * 400, "output": "b"}]),
    "unknown_key.yaml": "training:\n  learning_rat: 0.1\n",
    "wrong_type.yaml": "training:\n  epochs: many\n",
    "broken.yaml": "training:\n  epochs: [1, 2\n",
}

# (case id, argv with {data}/{model}/{dir} placeholders, expected part of the error line)
CASES = [
    ("data-malformed-jsonl", ["run", "--data", "{data}/malformed.jsonl"], "malformed.jsonl:2:32: invalid JSON: Expecting value"),
    ("data-malformed-json", ["check", "--data", "{data}/malformed.json"], "malformed.json:2:22: invalid JSON: Expecting ',' delimiter"),
    ("data-csv-missing-column", ["run", "--data", "{data}/no_output.csv"], "missing-field: field 'output' is missing"),
    ("data-wrong-type", ["run", "--data", "{data}/types.jsonl"], "wrong-type: field 'instruction' is a number, not text"),
    ("data-empty-file", ["run", "--data", "{data}/empty.jsonl"], "the data file is empty"),
    ("data-not-utf8", ["run", "--data", "{data}/latin1.jsonl"], "latin1.jsonl:1:21: bytes that are not UTF-8 at byte offset 20 (0xe9)"),
    ("data-unknown-role", ["run", "--data", "{data}/roles.jsonl"], "unknown-role: messages[0].role is 'wizard'"),
    ("data-not-alternating", ["run", "--data", "{data}/order.jsonl"], "role-order: messages[1].content is a user message"),
    ("data-reasoning-not-rendered", ["run", "--data", "{data}/reasoning.jsonl"],
     "reasoning.jsonl:1: the sample has reasoning (messages[1].content), which the model's shipped chat template "
     "does not render"),
    ("data-tool-arguments-strict", ["check", "--data", "{data}/tool_args.jsonl", "--strict"],
     "tool_args.jsonl:1: tool-arguments-json: messages[1].tool_calls[0].function.arguments is not valid JSON"),
    ("data-preference-without-rejected", ["run", "--stage", "dpo", "--data", "{data}/no_rejected.jsonl"],
     "missing-rejected: field 'rejected' is missing or empty"),
    ("data-preference-for-sft", ["run", "--data", "{data}/preference.jsonl"], "preference data cannot be used for stage sft"),
    ("data-empty-after-filtering", ["run", "--data", "{data}/long.jsonl", "--cutoff-len", "64"],
     "no usable samples: all 1 were dropped (too-long 1)"),
    ("data-over-cutoff-strict", ["check", "--data", "{data}/long.jsonl", "--cutoff-len", "64", "--strict"],
     "long.jsonl:1: too-long: the sample is"),
    ("data-missing-path", ["run", "--data", "{data}/nope.jsonl"], "nope.jsonl: data path does not exist"),
    ("data-empty-dir", ["run", "--data", "{data}/empty_dir"], "no data files in the directory"),
    ("config-unknown-key", ["run", "{data}/unknown_key.yaml", "--data", "{data}/good.jsonl"],
     "unknown_key.yaml:2: unknown key 'training.learning_rat' (did you mean 'training.learning_rate'?)"),
    ("config-wrong-type", ["run", "{data}/wrong_type.yaml", "--data", "{data}/good.jsonl"],
     "wrong_type.yaml:2: training.epochs='many': input should be a valid number"),
    ("config-invalid-yaml", ["run", "{data}/broken.yaml", "--data", "{data}/good.jsonl"], "broken.yaml:3:1: invalid YAML"),
    ("config-set-unknown-key", ["run", "--data", "{data}/good.jsonl", "--set", "lora.rank=8"],
     "unknown key 'lora.rank' (did you mean 'lora.r'?)"),
    ("config-cutoff-beyond-rope", ["run", "--data", "{data}/good.jsonl", "--cutoff-len", "4096"],
     "data.cutoff_len=4096 is beyond what this model can reach"),
    ("config-save-not-multiple-of-eval", ["run", "--data", "{data}/good.jsonl", "--set", "training.save_steps=3",
                                          "--set", "training.eval_steps=2"], "training.save_steps=3 is not a multiple of training.eval_steps=2"),
    ("config-logger-not-installed", ["run", "--data", "{data}/good.jsonl", "--set", "training.report_to=[wandb]"],
     "training.report_to=wandb needs wandb, which is not installed (no module 'wandb'). "
     "pip install 'framework[wandb]', or drop wandb from training.report_to"),
    ("config-resume-without-checkpoint", ["run", "--data", "{data}/good.jsonl", "--resume"],
     "--resume but the output directory holds no complete checkpoint"),
    ("model-no-config", ["run", "--model", "{models}/empty", "--data", "{data}/good.jsonl"], "no config.json"),
    ("model-no-tokenizer", ["run", "--model", "{models}/no_tokenizer", "--data", "{data}/good.jsonl"],
     "no tokenizer files beside config.json"),
    ("model-no-chat-template", ["run", "--model", "{models}/no_template", "--data", "{data}/good.jsonl"],
     "no plugin claims this model and its tokenizer has no chat template"),
    ("model-hub-id-offline", ["run", "--model", "nobody-here/not-cached", "--data", "{data}/good.jsonl"],
     "nobody-here/not-cached is not in the local Hugging Face cache and offline mode is on"),
    ("safety-remote-code", ["run", "--model", "{models}/remote_code", "--data", "{data}/good.jsonl"],
     "needs its own Python code to load (remote code), which is off by default. read the code in the model "
     "repository, then pass --trust-remote-code"),
    ("safety-pickle-weights", ["run", "--model", "{models}/pickle", "--data", "{data}/good.jsonl"],
     "weights are pickle files (pytorch_model.bin), which can run arbitrary code when loaded. convert them to "
     "safetensors, or pass --allow-pickle"),
]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("bad-data")
    for name, content in BAD_FILES.items():
        (root / name).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    (root / "empty_dir").mkdir()
    return root


@pytest.fixture(scope="module")
def models_dir(tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Broken variants of the tiny model: no config, no tokenizer, no template, remote code, pickle."""
    import torch
    from safetensors.torch import load_file

    root = tmp_path_factory.mktemp("bad-models")
    (root / "empty").mkdir()
    shutil.copytree(tiny_model_dir, root / "no_tokenizer")
    for path in (root / "no_tokenizer").iterdir():
        if path.name.startswith(("tokenizer", "chat_template", "special_tokens")):
            path.unlink()
    shutil.copytree(tiny_model_dir, root / "no_template")
    (root / "no_template" / "chat_template.jinja").unlink(missing_ok=True)
    config = json.loads((root / "no_template" / "tokenizer_config.json").read_text())
    config.pop("chat_template", None)
    (root / "no_template" / "tokenizer_config.json").write_text(json.dumps(config))
    shutil.copytree(tiny_model_dir, root / "remote_code")
    config = json.loads((root / "remote_code" / "config.json").read_text())
    config.update(model_type="mything", architectures=["MyThingForCausalLM"],
                  auto_map={"AutoConfig": "configuration_mything.MyThingConfig",
                            "AutoModelForCausalLM": "modeling_mything.MyThingForCausalLM"})
    (root / "remote_code" / "config.json").write_text(json.dumps(config))
    shutil.copytree(tiny_model_dir, root / "pickle")
    weights = root / "pickle" / "model.safetensors"
    torch.save(load_file(weights), root / "pickle" / "pytorch_model.bin")
    weights.unlink()
    return root


def _one_error_line(err: str) -> str:
    """The error is one line and the last on stderr (library progress bars may come before it)."""
    errors = [line for line in err.strip().splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and err.strip().endswith(errors[0]) and "Traceback" not in err, err
    return errors[0]


def _expand(argv: list[str], data_dir: Path, models_dir: Path, tiny_model_dir: Path, output: Path) -> list[str]:
    out = [a.replace("{data}", str(data_dir)).replace("{models}", str(models_dir)) for a in argv]
    if "--model" not in out:
        out += ["--model", str(tiny_model_dir)]
    if "--cutoff-len" not in out:
        out += ["--cutoff-len", "128"]
    if out[0] == "run":
        out += ["--output", str(output)]
    return out


@pytest.mark.parametrize(("case", "argv", "expected"), CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2_and_touches_nothing(
    case: str, argv: list[str], expected: str, data_dir: Path, models_dir: Path, tiny_model_dir: Path,
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    import huggingface_hub

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("the network was touched")

    monkeypatch.setattr(huggingface_hub, "snapshot_download", no_network)
    output = tmp_path / "out"
    output.mkdir()
    (output / "notes.txt").write_text("the user's own file")
    before = (_digest(data_dir), _digest(models_dir), _digest(output))
    assert main(_expand(argv, data_dir, models_dir, tiny_model_dir, output)) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert expected in line, line
    assert (_digest(data_dir), _digest(models_dir), _digest(output)) == before


def test_qlora_without_bitsandbytes_is_refused_before_loading(
    data_dir: Path, tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "bitsandbytes", None)  # import bitsandbytes now fails
    output = tmp_path / "out"
    argv = ["run", "--model", str(tiny_model_dir), "--data", str(data_dir / "good.jsonl"), "--cutoff-len", "128",
            "--method", "qlora", "--output", str(output)]
    assert main(argv) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "--method qlora needs bitsandbytes, which cannot be imported here" in line and "--method lora" in line
    assert not output.exists()


def test_fp16_on_a_family_that_forbids_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoConfig

    config = AutoConfig.for_model("gemma2", vocab_size=256000, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                  num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    config.save_pretrained(tmp_path / "gemma2-tiny")
    assert main(["plan", "--model", str(tmp_path / "gemma2-tiny"), "--set", "model.dtype=fp16"]) == 2
    line = _one_error_line(capsys.readouterr().err)
    assert "model.dtype=fp16 is refused for this model family" in line and "fp16 refused: Gemma 2" in line


def test_remote_code_is_shown_by_plan_and_allowed_by_the_flag(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--model", str(models_dir / "remote_code")]) == 2
    assert "--trust-remote-code" in _one_error_line(capsys.readouterr().err)
    assert main(["plan", "--json", "--model", str(models_dir / "remote_code"), "--trust-remote-code",
                 "--cutoff-len", "128"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["settings"]["model.trust_remote_code"] == {"value": True, "source": "cli"}


def test_pickle_weights_load_with_allow_pickle(models_dir: Path) -> None:
    from framework.config import RunConfig
    from framework.methods import load_model

    config = RunConfig.model_validate({"model": {"allow_pickle": True}})
    model = load_model(models_dir / "pickle", config, dtype="fp32", attn="sdpa", rope=None, trust_remote_code=False)
    assert sum(p.numel() for p in model.parameters()) > 0
