"""Detection: which configs are Phi-3, which context layout, and who renders a shipped template."""

from __future__ import annotations

from pathlib import Path

from framework.facts import facts_from_config
from framework_phi3 import checkpoints, detect

TEMPLATES = Path(__file__).parent / "templates"
CHATML = ("{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + "
          "'<|im_end|>' + '\\n'}}{% endfor %}")


def facts(chat_template: str | None = None, **overrides):
    return facts_from_config(checkpoints.tiny_config(**overrides), "tiny", chat_template)


def test_published_4k_config_is_claimed_with_its_facts() -> None:
    config = checkpoints.known_model_configs()["microsoft/Phi-3-mini-4k-instruct"]
    result = detect.match(facts_from_config(config, "microsoft/Phi-3-mini-4k-instruct"))
    assert result.score == 100 and result.variant == "3-4k"
    assert "vocab_size=32064" in result.reasons[1]


def test_old_longrope_names_are_recognised() -> None:
    for name in ("su", "longrope"):
        scaling = {"type": name, "short_factor": [1.0] * 4, "long_factor": [2.0] * 4}
        assert detect.match(facts(max_position_embeddings=131072, rope_scaling=scaling)).variant == "3-128k"


def test_phi4_generations_sharing_the_model_type_are_not_claimed() -> None:
    assert detect.match(facts(vocab_size=100352)) is None
    assert detect.match(facts(vocab_size=200064)) is None


def test_no_shipped_template_leaves_the_chat_to_the_plugin_without_a_template_reason() -> None:
    result = detect.match(facts())
    assert result.chat_format == "plugin"
    assert not any("chat template" in reason for reason in result.reasons)


def test_the_official_templates_are_recognised_as_phi3s_format() -> None:
    for path in sorted(TEMPLATES.glob("*.jinja")):
        result = detect.match(facts(path.read_text(encoding="utf-8")))
        assert result.chat_format == "plugin", path.name
        assert result.reasons[-1] == ("chat template of the model directory: "
                                      "Phi-3's <|user|>/<|assistant|>/<|end|> turns")


def test_a_fine_tune_shipping_another_format_keeps_the_claim_but_not_the_chat() -> None:
    """The architecture is still Phi-3 (score, variant); the shipped ChatML template renders the chat."""
    result = detect.match(facts(CHATML, max_position_embeddings=131072,
                                rope_scaling={"type": "longrope", "short_factor": [1.0] * 4, "long_factor": [2.0] * 4}))
    assert (result.score, result.variant, result.chat_format) == (100, "3-128k", "shipped")
    assert "not Phi-3's format" in result.reasons[-1]
