"""bf16 autocast for fine-tuning: on where the CPU multiplies bf16 natively, overridable, fp32 when off."""

from __future__ import annotations

import pytest
import torch
from probe_runtime.errors import UsageError
from probe_train import finetune as ft
from probe_train.data import load_dataset
from probe_train.encoder import load_encoder
from probe_train.finetune import FinetuneSettings, finetune
from probe_train.finetune_speed import BF16_ENV, cpu_flags, training_autocast, use_bf16

AVX512_BF16 = frozenset({"avx2", "avx512f", "avx512_bf16"})
AVX2_ONLY = frozenset({"avx2", "fma"})


def test_auto_turns_bf16_on_only_on_cpus_with_native_bf16_products():
    assert use_bf16("auto", AVX512_BF16) is True
    assert use_bf16("auto", frozenset({"amx_bf16", "amx_tile"})) is True
    assert use_bf16("auto", AVX2_ONLY) is False


def test_on_and_off_override_the_cpu_and_the_environment_is_read_when_no_setting_is_given(monkeypatch):
    assert use_bf16("on", AVX2_ONLY) is True
    assert use_bf16("OFF", AVX512_BF16) is False
    monkeypatch.setenv(BF16_ENV, "off")
    assert use_bf16(None, AVX512_BF16) is False


def test_a_bad_setting_is_one_line_naming_the_variable_and_the_choices(monkeypatch):
    monkeypatch.setenv(BF16_ENV, "fast")
    with pytest.raises(UsageError, match=f"{BF16_ENV} must be one of auto, on, off, not 'fast'"):
        use_bf16()


def test_cpu_flags_reads_the_flags_line_and_is_empty_without_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: Some CPU\nflags\t\t: fpu avx2 avx512_bf16\n\n", encoding="utf-8")
    assert cpu_flags(info) == {"fpu", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == frozenset()


def test_autocast_runs_linear_layers_in_bf16_only_when_enabled():
    layer, x = torch.nn.Linear(4, 2), torch.randn(3, 4)
    with training_autocast(True):
        assert layer(x).dtype == torch.bfloat16
    with training_autocast(False):
        assert layer(x).dtype == torch.float32


@pytest.mark.parametrize("setting", ["on", "off"])
def test_fine_tuning_learns_with_and_without_bf16(tiny_encoder, tiny_data, monkeypatch, setting):
    monkeypatch.setenv(BF16_ENV, setting)
    train = load_dataset(tiny_data[0])
    settings = FinetuneSettings(model=str(tiny_encoder), learning_rate=1e-2, epochs=3, checkpoint_every=0)
    fit, validation = ft.split_validation(train, settings)
    result = finetune(load_encoder(settings.model), fit, validation, settings)
    losses = [record.train_loss for record in result.history]
    assert losses[-1] < losses[0]
    assert result.weight.dtype.kind == "f" and result.weight.shape[0] == 2
