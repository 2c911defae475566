"""Bottleneck adapters (``--method adapter``): small residual MLPs after each decoder block's sublayers.

Houlsby et al. 2019 ("Parameter-Efficient Transfer Learning for NLP", arXiv:1902.00751) insert,
after the attention and after the feed-forward sublayer of every block, a module
``h + up(act(down(h)))`` with ``down: hidden -> dim`` and ``up: dim -> hidden``; ``up`` starts at
zero so the adapted model starts as the base model, and only the adapters train. Pfeiffer et
al. 2020 (arXiv:2005.00247) keep only the one after the feed-forward sublayer
(``adapter.placement: mlp``). The seed's sketch (seed 001 §2) uses ``dim`` 64, ReLU and dropout
0.1: those are the defaults.

Why not peft: peft 0.21's ``register_peft_method`` only accepts names already in its closed
``PeftType`` enum, so a new tuner type cannot be registered from outside peft and
``PeftModel.from_pretrained`` could not load it. The maintained ``adapters`` library pins
transformers ~=4.57. So this module adds the adapters itself, as submodules of each decoder
layer (``bottleneck_attention``, ``bottleneck_mlp``) applied by forward hooks on the layer's
``self_attn`` / ``mlp`` modules, and saves them on their own:

* ``bottleneck_config.json``: ``{"format": "framework-bottleneck", "version": 1, "dim", "placement",
  "nonlinearity", "dropout", "layers"}``
* ``bottleneck_adapter.safetensors``: the adapter tensors under their names in the model
  (``model.layers.3.bottleneck_mlp.down.weight`` ...), fp32.

``load_adapters(model, directory)`` attaches and fills them on a freshly loaded base model; the
adapters add layers, so there is nothing to merge into the base weights. Checkpoints hold the
same adapter file (plus the optimizer and trainer state), not a copy of the frozen base; the
trainer reads it back on ``--resume`` and when it loads the best checkpoint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from framework.errors import ConfigError, ModelError

CONFIG_FILE = "bottleneck_config.json"
WEIGHTS_FILE = "bottleneck_adapter.safetensors"
FORMAT = "framework-bottleneck"
#: Sublayer attribute of a decoder layer for each placement (the transformers naming of decoder blocks).
SUBLAYERS = {"attention": "self_attn", "mlp": "mlp"}
PLACEMENTS = {"both": ("attention", "mlp"), "attention": ("attention",), "mlp": ("mlp",)}
PREFIX = "bottleneck_"


def _activation(name: str) -> Any:
    import torch.nn as nn

    return {"relu": nn.ReLU, "gelu": nn.GELU, "silu": nn.SiLU, "tanh": nn.Tanh}[name]()


def _module_class() -> Any:
    import torch.nn as nn

    class BottleneckAdapter(nn.Module):
        """``h + up(dropout(act(down(h))))``, fp32 parameters, output in the input's dtype."""

        def __init__(self, hidden: int, dim: int, nonlinearity: str, dropout: float) -> None:
            super().__init__()
            self.down = nn.Linear(hidden, dim)
            self.act = _activation(nonlinearity)
            self.dropout = nn.Dropout(dropout)
            self.up = nn.Linear(dim, hidden)
            nn.init.zeros_(self.up.weight)  # starts as the identity: the base model's output
            nn.init.zeros_(self.up.bias)

        def forward(self, hidden: Any) -> Any:
            x = hidden.to(self.down.weight.dtype)
            return hidden + self.up(self.dropout(self.act(self.down(x)))).to(hidden.dtype)

    return BottleneckAdapter


def _hook(adapter: Any) -> Any:
    def apply(module: Any, args: Any, output: Any) -> Any:
        if isinstance(output, tuple):  # attention returns (output, weights, ...)
            return (adapter(output[0]), *output[1:])
        return adapter(output)

    return apply


def _layers(model: Any) -> Any:
    from framework.loss import causal_lm

    layers = getattr(causal_lm(model).get_decoder(), "layers", None)
    if layers is None:
        raise ConfigError("--method adapter cannot find the decoder layers of this model",
                          hint="use --method lora for this architecture")
    return layers


def attach(model: Any, *, dim: int, placement: str, nonlinearity: str, dropout: float) -> int:
    """Add adapters to every decoder layer (base weights untouched); returns how many were added."""
    import torch

    adapter_class = _module_class()
    layers = list(_layers(model))
    hidden = model.config.get_text_config().hidden_size
    device = next(model.parameters()).device
    added = 0
    for layer in layers:
        for where in PLACEMENTS[placement]:
            sublayer = getattr(layer, SUBLAYERS[where], None)
            if sublayer is None:
                raise ConfigError(f"--method adapter: a decoder layer has no `{SUBLAYERS[where]}` module "
                                  f"for adapter.placement={placement}",
                                  hint="choose another adapter.placement or --method lora")
            adapter = adapter_class(hidden, dim, nonlinearity, dropout).to(device=device, dtype=torch.float32)
            layer.add_module(PREFIX + where, adapter)
            sublayer.register_forward_hook(_hook(adapter))
            added += 1
    model._bottleneck = {"format": FORMAT, "version": 1, "dim": dim, "placement": placement,
                         "nonlinearity": nonlinearity, "dropout": dropout, "layers": len(layers)}
    return added


def apply_adapters(model: Any, config: Any) -> Any:
    """``--method adapter``: freeze the model and train bottleneck adapters only."""
    import torch

    for param in model.parameters():
        param.requires_grad_(False)
    settings = config.adapter
    torch.manual_seed(config.training.seed)
    attach(model, dim=settings.dim, placement=settings.placement, nonlinearity=settings.nonlinearity,
           dropout=settings.dropout)
    for name, param in model.named_parameters():
        if f".{PREFIX}" in name:
            param.requires_grad_(True)
    return model


def has_adapters(model: Any) -> bool:
    return getattr(model, "_bottleneck", None) is not None


def adapter_state(model: Any, state_dict: dict[str, Any] | None = None) -> dict[str, Any]:
    """The adapter tensors (from ``state_dict`` when weights were gathered from shards)."""
    source = state_dict if state_dict is not None else model.state_dict()
    return {k: v.detach().to("cpu").contiguous() for k, v in source.items() if f".{PREFIX}" in k}


def save_adapters(model: Any, directory: Path, state_dict: dict[str, Any] | None = None) -> None:
    """Write ``bottleneck_config.json`` and ``bottleneck_adapter.safetensors`` (adapters only)."""
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    tensors = adapter_state(model, state_dict)
    save_file(tensors, str(directory / WEIGHTS_FILE), metadata={"format": FORMAT})
    (directory / CONFIG_FILE).write_text(json.dumps(model._bottleneck, indent=2), encoding="utf-8")


def is_adapter_directory(directory: Path) -> bool:
    return (directory / CONFIG_FILE).is_file()


def load_adapters(model: Any, directory: Path) -> Any:
    """Attach the adapters saved in ``directory`` to a freshly loaded base model and fill them."""
    from safetensors.torch import load_file

    path = directory / CONFIG_FILE
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        dim, placement, nonlinearity = int(saved["dim"]), saved["placement"], saved["nonlinearity"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(f"bottleneck adapter config is unreadable ({exc})", where=str(path),
                         hint="the run's output is damaged: train again or restore the file") from None
    if saved.get("format") != FORMAT or placement not in PLACEMENTS:
        raise ModelError("not a bottleneck adapter config this version reads", where=str(path),
                         hint="load it with the framework version that trained it")
    layers = len(list(_layers(model)))
    if int(saved.get("layers", layers)) != layers:
        raise ModelError(f"the adapters were trained on a model with {saved['layers']} layers, this one has {layers}",
                         where=str(path), hint="load them on the base model the run recorded")
    attach(model, dim=dim, placement=placement, nonlinearity=nonlinearity, dropout=float(saved.get("dropout", 0.0)))
    weights = load_file(str(directory / WEIGHTS_FILE))
    expected = set(adapter_state(model))
    if set(weights) != expected:
        missing = sorted(expected - set(weights))[:1] or sorted(set(weights) - expected)[:1]
        raise ModelError(f"bottleneck adapter weights do not match the model (first difference: {missing[0]})",
                         where=str(directory / WEIGHTS_FILE), hint="load them on the base model the run recorded")
    model.load_state_dict(weights, strict=False)
    return model


def save_checkpoint_weights(trainer: Any, output_dir: str | None, state_dict: dict[str, Any] | None) -> None:
    """``Trainer._save`` of an adapter run: the adapters, the tokenizer and the training arguments.

    The frozen base is not copied into every checkpoint (a few hundred MiB of adapters instead of
    the whole model); ``load_checkpoint_weights`` fills the adapters again on --resume and when
    the best checkpoint is loaded at the end.
    """
    import torch
    from transformers.trainer import TRAINING_ARGS_NAME

    if not trainer.args.should_save:
        return
    directory = Path(output_dir or trainer.args.output_dir)
    save_adapters(trainer.model, directory, state_dict)
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(directory)
    torch.save(trainer.args, directory / TRAINING_ARGS_NAME)


def load_checkpoint_weights(model: Any, directory: str | Path) -> bool:
    """Fill the attached adapters from a checkpoint ``save_checkpoint_weights`` wrote; False when
    the model has no adapters or the checkpoint holds none (transformers' own loading applies)."""
    from safetensors.torch import load_file

    path = Path(directory) / WEIGHTS_FILE
    if not has_adapters(model) or not path.is_file():
        return False
    weights = load_file(str(path))
    expected = set(adapter_state(model))
    if set(weights) != expected:
        raise ModelError("the checkpoint's bottleneck adapters do not match this run's (adapter settings changed?)",
                         where=str(path), hint="resume with the settings the run started with")
    model.load_state_dict(weights, strict=False)
    return True


def refuse_merge(directory: Path) -> None:
    """``merge`` on an adapter run: one line, since adapters add layers there is nothing to merge."""
    if is_adapter_directory(directory):
        raise ConfigError(
            "this run trained bottleneck adapters, which add layers to every block instead of changing weights, "
            "so there is nothing to merge into the base model",
            where=str(directory),
            hint="use it as it is: `framework chat` or `framework eval` on this directory",
        )
