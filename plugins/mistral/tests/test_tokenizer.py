"""The tokenizers ``framework_mistral.tokenizer`` builds are faithful to the real vocabularies: same
ids as sentencepiece and mistral-common's Tekkenizer on plain text (so the template tests run on
the real thing), the later control tokens at their ranks, and a one-line error without the files."""

from __future__ import annotations

import json
import random
import sys

import pytest

ALPHABET = "abc xyz  \n\t.,!?;:'\"()[]{}<>/\\-_=+*&^%$#@~`你好世界中文测试😀🎉éèêñüß0123456789龘"
FIXED = ["Hello world", "你好，世界 😀", "```python\nx = 1\n```", "\n\nx", "a\tb\r\nc", "ÀÉÎõü ß ﬁ",
         "    def f(x):\n        return x**2  # comment", " Hello  world\n\nfoo", "  lead and trail  "]


def texts() -> list[str]:
    rng = random.Random(0)
    return FIXED + ["".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 60))) for _ in range(200)]


@pytest.mark.parametrize("name", ["tokenizer.model.v1", "mistral_instruct_tokenizer_240323.model.v3"])
@pytest.mark.parametrize("mode", ["first", "legacy"])
def test_sentencepiece_conversion_matches_sentencepiece(build_tokenizer, name, mode):
    import sentencepiece

    from framework_mistral.checks import byte_piece_ids
    from framework_mistral.tokenizer import mistral_data

    tok = build_tokenizer(name, mode)
    sp = sentencepiece.SentencePieceProcessor(model_file=str(mistral_data(name)))
    assert len(tok) == sp.get_piece_size() and len(byte_piece_ids(tok)) == 256
    for text in texts():
        ours = tok(text, add_special_tokens=False)["input_ids"]
        if mode == "first" and text.startswith(" "):
            # Metaspace(prepend_scheme="first") does not add the dummy prefix to text already
            # starting with a space; sentencepiece does (one extra "▁")
            continue
        assert ours == sp.encode(text), text


def test_tekken_conversion_matches_mistral_common(tok_tekken):
    from mistral_common.tokens.tokenizers.tekken import Tekkenizer

    from framework_mistral.tokenizer import mistral_data

    tekken = Tekkenizer.from_file(str(mistral_data("tekken_240718.json")))
    assert len(tok_tekken) == tekken.n_words == 131072
    for text in texts():
        assert tok_tekken(text, add_special_tokens=False)["input_ids"] == tekken.encode(text, bos=False, eos=False)


def test_control_tokens_of_the_v3_vocabulary(tok_v3):
    assert tok_v3.convert_tokens_to_ids(["<unk>", "<s>", "</s>", "[INST]", "[/INST]"]) == [0, 1, 2, 3, 4]
    assert tok_v3("[INST] hi[/INST]", add_special_tokens=False)["input_ids"][::2] == [3, 4]


def test_the_later_control_tokens_sit_at_their_documented_ranks(tekken_later):
    ranks = {"[ARGS]": 32, "[CALL_ID]": 33, "[THINK]": 35, "[/THINK]": 36, "[SYSTEM_PROMPT]": 17, "[TOOL_CONTENT]": 19}
    assert tekken_later.tokenizer.convert_tokens_to_ids(list(ranks)) == list(ranks.values())
    assert tekken_later.encoder("v13").instruct_tokenizer.BEGIN_THINK == 35


def test_the_later_tekken_file_keeps_nemos_bpe_and_names_every_special_rank():
    """Only the special ranks change: the 130,072 BPE tokens and NeMo's named ranks 0-19 stay."""
    from framework_mistral import vocab
    from framework_mistral.tokenizer import later_tekken_raw, mistral_data

    raw = later_tekken_raw()
    specials = raw["special_tokens"]
    assert [t["rank"] for t in specials] == list(range(vocab.TEKKEN_SPECIAL_SLOTS))
    named = {t["token_str"]: t["rank"] for t in specials if not t["token_str"].startswith("<SPECIAL_")}
    assert named == {**vocab.TEKKEN_RANKS, **vocab.LATER_CONTROL_RANKS}
    nemo = json.loads(mistral_data("tekken_240718.json").read_text(encoding="utf-8"))
    assert raw["vocab"] == nemo["vocab"] and raw["config"] == nemo["config"]


def test_a_missing_tokenizer_file_is_one_line_naming_the_install(monkeypatch):
    import mistral_common

    from framework.errors import UserError
    from framework_mistral.tokenizer import INSTALL_HINT, mistral_data

    with pytest.raises(UserError) as missing:
        mistral_data("tekken_999999.json")
    assert "tekken_999999.json" in str(missing.value) and INSTALL_HINT in str(missing.value)
    assert "\n" not in str(missing.value)
    monkeypatch.setitem(sys.modules, "mistral_common", None)  # as if not installed
    with pytest.raises(UserError, match="mistral-common is missing"):
        mistral_data("tokenizer.model.v1")
    assert mistral_common.__file__  # the real package is untouched
