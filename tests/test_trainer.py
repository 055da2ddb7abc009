"""CAPOTrainer against TRL's DPOTrainer on a tiny Llama built in the test."""

from __future__ import annotations

import pytest
import torch
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from capo import CAPOConfig, CAPOTrainer
from tests._trl_args import tiny_args
from tests.conftest import toy_pairs

pytestmark = pytest.mark.slow


def _train(trainer):
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses, {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def test_gamma_zero_trains_exactly_like_trl_sigmoid(tmp_path, make_tiny_model, tiny_tokenizer):
    data = Dataset.from_list(toy_pairs(16))
    ours = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(CAPOConfig, tmp_path / "a", loss_type="capo", gamma=0.0),
        train_dataset=data,
        processing_class=tiny_tokenizer,
    )
    trl = DPOTrainer(
        make_tiny_model(),
        args=tiny_args(DPOConfig, tmp_path / "b", loss_type="sigmoid"),
        train_dataset=data,
        processing_class=tiny_tokenizer,
    )
    (l1, w1), (l2, w2) = _train(ours), _train(trl)
    assert len(l1) == 3
    torch.testing.assert_close(torch.tensor(l1), torch.tensor(l2), atol=1e-6, rtol=0)
    for name in w1:
        torch.testing.assert_close(w1[name], w2[name], atol=1e-6, rtol=0, msg=name)
    assert (
        w1["model.embed_tokens.weight"]
        .ne(make_tiny_model().state_dict()["model.embed_tokens.weight"])
        .any()
    )


def _sgd_delta(trainer) -> torch.Tensor:
    before = torch.cat([p.detach().flatten().clone() for p in trainer.model.parameters()])
    trainer.train()
    after = torch.cat([p.detach().flatten() for p in trainer.model.parameters()])
    return after - before


def test_per_pair_weights_change_the_update_as_predicted(tmp_path, make_tiny_model, tiny_tokenizer):
    """One SGD step with scores equals sum_i w_i * (single-pair DPO step_i) / B.

    A score column dropped on the way (remove_unused_columns, an ignored model kwarg)
    would train unweighted and fail here.
    """
    rows = toy_pairs(4)
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(4, 2, generator=g) * 2
    for row, (sw, sr) in zip(rows, scores.tolist(), strict=True):
        row.update(score_chosen=sw, score_rejected=sr)
    kappa = 0.9
    sgd = dict(
        optim="sgd",
        learning_rate=0.5,
        max_steps=1,
        max_grad_norm=0.0,
        weight_decay=0.0,
        lr_scheduler_type="constant",
        warmup_steps=0,
    )
    weighted = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(CAPOConfig, tmp_path / "w", gamma=0.0, kappa=kappa, **sgd),
        train_dataset=Dataset.from_list(rows),
        processing_class=tiny_tokenizer,
    )
    delta = _sgd_delta(weighted)
    single = []
    for i, row in enumerate(rows):
        plain = {k: row[k] for k in ("prompt", "chosen", "rejected")}
        trainer = DPOTrainer(
            make_tiny_model(),
            args=tiny_args(DPOConfig, tmp_path / f"s{i}", per_device_train_batch_size=1, **sgd),
            train_dataset=Dataset.from_list([plain]),
            processing_class=tiny_tokenizer,
        )
        single.append(_sgd_delta(trainer))
    w = torch.sigmoid(kappa * (scores[:, 0] - scores[:, 1]))
    predicted = sum(wi * d for wi, d in zip(w, single, strict=True)) / len(rows)
    unweighted = sum(single) / len(rows)
    torch.testing.assert_close(delta, predicted, atol=2e-6, rtol=1e-4)
    assert (delta - unweighted).abs().max() > 100 * (delta - predicted).abs().max()


def test_training_smoke_learns_the_toy_preferences(tmp_path, make_tiny_model, tiny_tokenizer):
    data = Dataset.from_list(toy_pairs(32))
    model = make_tiny_model()
    start = {k: v.clone() for k, v in model.state_dict().items()}
    trainer = CAPOTrainer(
        model,
        args=tiny_args(
            CAPOConfig,
            tmp_path,
            max_steps=20,
            per_device_train_batch_size=8,
            learning_rate=1e-2,
            gamma=1.0,
            tau=1.0,
            beta=0.1,
        ),
        train_dataset=data,
        eval_dataset=data,
        processing_class=tiny_tokenizer,
    )
    losses, weights = _train(trainer)
    assert any(not torch.equal(start[k], weights[k]) for k in start)
    assert sum(losses[-5:]) / 5 < 0.8 * sum(losses[:5]) / 5
    metrics = trainer.evaluate()
    assert metrics["eval_rewards/accuracies"] > 0.9
    logged = {k for h in trainer.state.log_history for k in h}
    for key in (
        "rewards/accuracies",
        "rewards/margins",
        "logps/chosen",
        "capo/weight_mean",
        "capo/confidence_mean",
    ):
        assert key in logged
    assert "eval_capo/weight_mean" in metrics


def test_reference_columns_in_the_dataset_are_used_not_recomputed(
    tmp_path, make_tiny_model, tiny_tokenizer
):
    rows = toy_pairs(8)
    for i, row in enumerate(rows):
        row.update(ref_chosen_logps=-10.0 - i, ref_rejected_logps=-20.0 - i)
    trainer = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(CAPOConfig, tmp_path, precompute_ref_log_probs=False, max_steps=1),
        train_dataset=Dataset.from_list(rows),
        processing_class=tiny_tokenizer,
    )
    assert trainer.ref_model is None
    assert trainer.train_dataset["ref_chosen_logps"] == [-10.0 - i for i in range(8)]
    trainer.train()


def test_lora_adapter_trains(tmp_path, make_tiny_model, tiny_tokenizer):
    from peft import LoraConfig

    trainer = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(CAPOConfig, tmp_path, max_steps=2),
        train_dataset=Dataset.from_list(toy_pairs(8)),
        processing_class=tiny_tokenizer,
        peft_config=LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"]),
    )
    trainer.train()
    lora = [n for n, p in trainer.model.named_parameters() if p.requires_grad]
    assert lora and all("lora_" in n for n in lora)


def test_gradient_accumulation_matches_the_full_batch(tmp_path, make_tiny_model, tiny_tokenizer):
    data = Dataset.from_list(toy_pairs(8))
    sgd = dict(
        optim="sgd",
        learning_rate=0.5,
        max_steps=1,
        max_grad_norm=0.0,
        lr_scheduler_type="constant",
        gamma=2.0,
    )
    full = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(CAPOConfig, tmp_path / "f", per_device_train_batch_size=8, **sgd),
        train_dataset=data,
        processing_class=tiny_tokenizer,
    )
    accum = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(
            CAPOConfig,
            tmp_path / "a",
            per_device_train_batch_size=4,
            gradient_accumulation_steps=2,
            **sgd,
        ),
        train_dataset=data,
        processing_class=tiny_tokenizer,
    )
    torch.testing.assert_close(_sgd_delta(accum), _sgd_delta(full), atol=2e-6, rtol=1e-4)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"gamma": -1.0}, "gamma must be >= 0"),
        ({"tau": 0.0}, "tau must be > 0"),
        ({"kappa": -2.0}, "kappa must be > 0"),
        ({"beta": 0.0}, "beta must be > 0"),
        ({"loss_type": ["capo", "sigmoid"]}, "cannot be combined"),
        ({"f_divergence_type": "js_divergence"}, "reverse_kl"),
    ],
)
def test_config_rejects_bad_values(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        CAPOConfig(output_dir=str(tmp_path), **kwargs)


def test_nan_score_in_the_dataset_names_the_row(tmp_path, make_tiny_model, tiny_tokenizer):
    rows = toy_pairs(4)
    for i, row in enumerate(rows):
        row.update(score_chosen=1.0, score_rejected=float("nan") if i == 2 else 0.0)
    with pytest.raises(ValueError, match="train dataset row 2: score_rejected is nan"):
        CAPOTrainer(
            make_tiny_model(),
            args=tiny_args(CAPOConfig, tmp_path),
            train_dataset=Dataset.from_list(rows),
            processing_class=tiny_tokenizer,
        )


@pytest.mark.parametrize("loss_type", ["sigmoid", "ipo", "robust", "hinge"])
def test_trl_loss_types_still_work(tmp_path, make_tiny_model, tiny_tokenizer, loss_type):
    trainer = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(
            CAPOConfig,
            tmp_path,
            loss_type=loss_type,
            max_steps=2,
            label_smoothing=0.1 if loss_type == "robust" else 0.0,
        ),
        train_dataset=Dataset.from_list(toy_pairs(8)),
        processing_class=tiny_tokenizer,
    )
    losses, _ = _train(trainer)
    assert len(losses) == 2 and all(torch.isfinite(torch.tensor(losses)))
    logged = {k for h in trainer.state.log_history for k in h}
    assert "capo/weight_mean" not in logged and "rewards/accuracies" in logged


def test_the_trainer_touches_trl_only_where_the_adapter_says():
    """capo/trl_adapter.py names every private TRL hook CAPOTrainer overrides; each exists."""
    from capo.trl_adapter import PRIVATE_HOOKS, TRL_LOSS_TYPE, trl_loss_types

    private = {
        name
        for name, value in vars(CAPOTrainer).items()
        if name.startswith("_") and not name.startswith("__") and callable(value)
    }
    assert private == set(PRIVATE_HOOKS)
    for name in PRIVATE_HOOKS:
        assert callable(getattr(DPOTrainer, name, None)), f"TRL has no {name} any more"
    assert trl_loss_types(["capo", "sft"]) == [TRL_LOSS_TYPE, "sft"]


def test_settings_are_checked_once_and_travel_whole(
    tmp_path, make_tiny_model, tiny_tokenizer, monkeypatch
):
    """The trainer takes args.settings once; training steps check no setting again, and the
    loss gets the very object (a gamma changed on args after __init__ does not leak in)."""
    import capo.loss
    import capo.settings

    checks = []
    real = capo.settings.check_setting

    def counting(name, value):
        checks.append(name)
        return real(name, value)

    args = tiny_args(CAPOConfig, tmp_path, loss_type="capo", gamma=1.0, direction="up")
    trainer = CAPOTrainer(
        make_tiny_model(),
        args=args,
        train_dataset=Dataset.from_list(toy_pairs(16)),
        processing_class=tiny_tokenizer,
    )
    seen = []
    real_loss = capo.loss.capo_margin_loss

    def spy(margin, settings, **kw):
        seen.append(settings)
        return real_loss(margin, settings, **kw)

    monkeypatch.setattr(capo.settings, "check_setting", counting)
    monkeypatch.setattr(capo.loss, "check_setting", counting)
    monkeypatch.setattr("capo.trainer.capo_margin_loss", spy)
    args.gamma = 99.0  # too late: the trainer already holds its settings
    trainer.train()
    assert checks == []
    assert len(seen) == 3 and all(s is trainer.capo_settings for s in seen)
    assert trainer.capo_settings.gamma == 1.0 and trainer.capo_settings.direction == "up"
