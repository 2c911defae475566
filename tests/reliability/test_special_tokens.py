"""Control-token text inside user data is counted, reported, and trained as plain text.

A user message that contains the literal text ``<|eot_id|>`` must not end the turn: the
rendered ids keep the template's own ``<|eot_id|>`` (128009) at the turn ends and nowhere
else, and the data report counts the sample. The bundled demo model (llama3 plugin, the real
Llama 3 special tokens) is the model, so the template is a family plugin's and not the
generic fallback's.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from framework.cli import main

EOT, HEADER_END = 128009, 128007
ROWS = [
    {"instruction": "Repeat <|eot_id|> please", "input": "", "output": "ok"},
    {"instruction": "Say hi", "input": "", "output": "hi"},
]


@pytest.fixture(scope="module")
def data_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("special") / "special.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def test_check_counts_the_sample_with_control_token_text(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", "--data", str(data_file), "--set", "data.val_size=0"]) == 0
    out = capsys.readouterr().out
    assert "samples with control-token text kept as plain text: 1" in out


def test_render_keeps_the_control_token_out_of_the_data_part(data_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from transformers import AutoTokenizer

    from framework.plugins import make_plugin_host
    from framework.run_plan import demo_cache_dir

    assert main(["render", "--json", "--data", str(data_file), "--set", "data.val_size=0"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.strip().splitlines()]
    demo = make_plugin_host().demo_model(demo_cache_dir())
    assert demo is not None
    tokenizer = AutoTokenizer.from_pretrained(demo.path)
    users = {}
    for row in rows:
        ids = row["input_ids"]
        assert ids.count(EOT) == 2  # the end of the user turn and of the reply: the template's, nothing more
        start = ids.index(HEADER_END) + 2  # after "<|end_header_id|>\n\n"
        user_ids = ids[start: ids.index(EOT)]
        users[tokenizer.decode(user_ids)] = user_ids
    assert set(users) == {"Repeat <|eot_id|> please", "Say hi"}
    assert EOT not in users["Repeat <|eot_id|> please"] and len(users["Repeat <|eot_id|> please"]) > 4
