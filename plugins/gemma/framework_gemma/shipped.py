"""What the chat template shipped in the model directory says about the chat format.

config.json names the architecture; the shipped template names the chat format, and the two
can disagree: a Gemma architecture fine-tuned into ChatML (or any community format) keeps
Gemma's weights layout but is served with its own template. Detection therefore reads the
template when the model directory has one (``facts.chat_template``; None for offline hub ids):

* Gemma 1-3 turn markers ``<start_of_turn>`` / ``<end_of_turn>`` confirm the Gemma 1-3 format;
* Gemma 4 markers ``<|turn>`` / ``<turn|>`` confirm the Gemma 4 format, and the literal empty
  thought block in the generation prompt (``'<|channel>thought\\n<channel|>'``) says which of the
  two shipped Gemma 4 templates it is (12B/26B-A4B/31B pre-fill it, E2B/E4B do not);
* anything else is another format: the plugin keeps the architecture and hands the chat to the
  shipped template (``chat_format="shipped"``).
"""

from __future__ import annotations

from dataclasses import dataclass

from framework_gemma.vocab import END_OF_TURN, START_OF_TURN

G4_TURN_OPEN, G4_TURN_CLOSE = "<|turn>", "<turn|>"
#: The generation-prompt pre-fill of the larger Gemma 4 models' template, as written in it.
G4_EMPTY_THOUGHT_LITERAL = "'<|channel>thought\\n<channel|>'"

#: Marker -> the format it shows, to name a foreign template in ``reasons``.
FOREIGN_MARKERS = (
    ("<|im_start|>", "ChatML (<|im_start|>)"),
    ("<|start_header_id|>", "Llama 3 headers (<|start_header_id|>)"),
    ("[INST]", "Mistral [INST]"),
    ("<｜User｜>", "DeepSeek (<｜User｜>)"),
    ("<|user|>", "<|user|> turns"),
)


@dataclass(frozen=True)
class TemplateEvidence:
    """The format a shipped template shows: ``"1-3"``, ``"4"`` or ``None`` (not Gemma's), and why."""

    format: str | None
    reason: str
    prefills_empty_thought: bool = False


def read(template: str | None) -> TemplateEvidence | None:
    """The evidence in ``template``; None when the model directory ships no template."""
    if not template:
        return None
    if G4_TURN_OPEN in template and G4_TURN_CLOSE in template:
        prefill = G4_EMPTY_THOUGHT_LITERAL in template
        which = ("the empty thought block pre-filled in the generation prompt (12B/26B-A4B/31B template)" if prefill
                 else "no pre-filled thought block (E2B/E4B template)")
        return TemplateEvidence("4", f"chat template of the model directory: Gemma 4 turn markers {G4_TURN_OPEN}/"
                                     f"{G4_TURN_CLOSE}, {which}", prefill)
    if START_OF_TURN in template and END_OF_TURN in template:
        return TemplateEvidence("1-3", f"chat template of the model directory: Gemma turn markers "
                                       f"{START_OF_TURN}/{END_OF_TURN}")
    shown = next((name for marker, name in FOREIGN_MARKERS if marker in template), "no Gemma turn markers")
    return TemplateEvidence(None, f"chat template of the model directory is another format ({shown}): the "
                                  "architecture stays Gemma's, the chat is rendered with the shipped template")
