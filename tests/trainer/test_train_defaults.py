"""Training defaults have one source: the config dataclasses (plus ``DEFAULTS``' overrides
per model family and dataset). The command line and the samplers cannot drift from them."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
import itertools

import pytest

import trainer.commands._common as common
import trainer.commands.mine as mine_cmd
import trainer.commands.train as train_cmd
from trainer.config import DataConfig, TrainConfig, default_of
from trainer.mining import MiningConfig
from trainer.negatives import above_target, is_mining_epoch, mining_period, qure_hard_set, trns_mid_zone

FAMILIES = ("tiny", "vitl")
DATASETS = ("fashioniq", "cirr")
METHODS = ("qure", "contrastive", "trns", "above", "spn")


def _parser(module) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    module.add_arguments(p)
    return p


def _train_args(dataset: str, method: str, *flags: str) -> argparse.Namespace:
    return _parser(train_cmd).parse_args(
        ["--out", "run", "--dataset", dataset, "--data-root", "root", "--method", method, *flags]
    )


@pytest.mark.parametrize(("family", "dataset", "method"), list(itertools.product(FAMILIES, DATASETS, METHODS)))
def test_no_flags_gives_the_dataclass_defaults_plus_the_family_overrides(family, dataset, method):
    data, cfg = train_cmd._configs(_train_args(dataset, method), family)
    mining = MiningConfig(method=method) if method in ("qure", "trns", "above") else MiningConfig()
    assert cfg == TrainConfig(method=method, mining=mining, **train_cmd.family_defaults(family, dataset, method))
    assert data == DataConfig(dataset=dataset, root=data.root)
    assert train_cmd._seed(_train_args(dataset, method)) == cfg.seed


def test_a_changed_dataclass_default_is_what_the_command_line_gets(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Train(TrainConfig):
        weight_decay: float = 0.125
        seed: int = 7

    @dataclasses.dataclass(frozen=True)
    class Mining(MiningConfig):
        fallback_k: int = 3

    monkeypatch.setattr(train_cmd, "TrainConfig", Train)
    monkeypatch.setattr(common, "MiningConfig", Mining)
    args = _train_args("cirr", "qure")
    _, cfg = train_cmd._configs(args, "tiny")
    assert (cfg.weight_decay, cfg.seed, cfg.mining.fallback_k) == (0.125, 7, 3)
    assert train_cmd._seed(args) == 7
    assert "(default: 0.125)" in " ".join(_parser(train_cmd).format_help().split())


def test_flags_override_the_family_defaults():
    _, cfg = train_cmd._configs(_train_args("fashioniq", "spn", "--epochs", "2", "--lr", "0.5", "--no-amp"), "tiny")
    assert (cfg.epochs, cfg.lr, cfg.amp, cfg.batch_size) == (2, 0.5, False, 64)
    data, _ = train_cmd._configs(_train_args("cirr", "qure", "--val-split", "none"), "vitl")
    assert data.val_split is None


@pytest.mark.parametrize(
    ("module", "cls", "names"),
    [
        (train_cmd, TrainConfig, train_cmd.TRAIN_FLAGS),
        (train_cmd, DataConfig, train_cmd.DATA_FLAGS),
        (train_cmd, MiningConfig, common.MINING_FLAGS),
        (mine_cmd, MiningConfig, common.MINING_FLAGS + ("method", "batch_size")),
    ],
)
def test_config_flags_name_fields_and_have_no_default_of_their_own(module, cls, names):
    fields = {f.name for f in dataclasses.fields(cls)}
    assert set(names) <= fields
    dests = {a.dest: a.default for a in _parser(module)._actions}
    for name in names:
        assert name in dests, f"no flag fills {cls.__name__}.{name}"
        assert dests[name] is None, f"the flag for {cls.__name__}.{name} has its own default {dests[name]!r}"


def test_the_family_overrides_name_train_config_fields():
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for overrides in [*train_cmd.DEFAULTS.values(), *train_cmd.SPN_DEFAULTS.values()]:
        assert set(overrides) <= fields
    assert set(train_cmd.DEFAULTS) == set(itertools.product(FAMILIES, DATASETS))


# sampler_for passes every MiningConfig value explicitly, so the samplers' own keyword
# defaults only serve direct callers (tools/demo_model/hardsets.py); they must agree.
@pytest.mark.parametrize(
    ("fn", "fields"),
    [
        (qure_hard_set, {"consecutive_threshold": "consecutive_threshold", "window": "window",
                         "fallback_k": "fallback_k"}),
        (trns_mid_zone, {"lo": "trns_lo", "hi": "trns_hi", "mode": "trns_mode", "fallback_k": "fallback_k"}),
        (above_target, {"fn_sim": "fn_sim", "fallback_k": "fallback_k"}),
    ],
)
def test_sampler_keyword_defaults_equal_mining_config_defaults(fn, fields):
    params = inspect.signature(fn).parameters
    for param, field in fields.items():
        assert params[param].default == default_of(MiningConfig, field), (fn.__name__, param)


def test_schedule_keyword_defaults_equal_train_config_defaults():
    assert inspect.signature(mining_period).parameters["n_def"].default == default_of(TrainConfig, "n_def")
    params = inspect.signature(is_mining_epoch).parameters
    assert params["n_def"].default == default_of(TrainConfig, "n_def")
    assert params["warmup"].default == default_of(TrainConfig, "warmup")
