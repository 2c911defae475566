"""Liger kernels: refused in one line where they cannot run, settings follow the loss switch."""

from __future__ import annotations

import importlib.util

import pytest

from framework.errors import ConfigError
from framework.kernels import apply_liger, check_liger, liger_settings


def test_cpu_is_refused_with_a_one_line_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        check_liger("cpu")
    line = caught.value.line()
    assert "\n" not in line and "CUDA" in line and "training.liger_kernels" in line


def test_apply_refuses_before_touching_the_model() -> None:
    with pytest.raises(ConfigError):
        apply_liger(object(), device="cpu", chunked_loss=True)


@pytest.mark.skipif(importlib.util.find_spec("liger_kernel") is not None, reason="liger-kernel is installed here")
def test_cuda_without_the_package_says_how_to_install() -> None:
    with pytest.raises(ConfigError) as caught:
        check_liger("cuda")
    assert "pip install liger-kernel" in caught.value.line()


def test_fused_cross_entropy_only_when_the_framework_loss_is_off() -> None:
    assert liger_settings(chunked_loss=True)["fused_linear_cross_entropy"] is False
    assert liger_settings(chunked_loss=False)["fused_linear_cross_entropy"] is True
    assert not liger_settings(chunked_loss=False)["cross_entropy"]  # FLCE already covers the loss
    assert all(liger_settings(True)[k] for k in ("rope", "rms_norm", "swiglu"))
