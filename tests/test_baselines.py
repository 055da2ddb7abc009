"""capo's three baselines (docs/design.md §1): cDPO and ODPO against hand computations and
TRL's sigmoid, the data selection of filtered DPO, and their settings in params."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from capo import CAPOConfig, CAPOTrainer
from capo.loss import cdpo_loss, cdpo_margin_loss, odpo_loss, odpo_margin_loss
from capo.settings import LossSettings
from capo_pipelines.models.selection import keep_all, select_pairs
from capo_pipelines.params import ParamsError, load_params
from capo_pipelines.params.losses import (
    loss_settings,
    read_loss_settings,
    settings_document,
    write_loss_settings,
)
from tests._trl_args import tiny_args
from tests.conftest import toy_pairs

# ---- the losses, on hand-made tensors ---------------------------------------------------

# policy chosen, policy rejected, reference chosen, reference rejected: four pairs
LOGPS = [[-3.0, -7.5, -2.0, -10.0], [-5.0, -6.0, -4.5, -3.0], [-4.0, -7.0, -2.5, -9.0]]
LOGPS += [[-4.5, -6.5, -4.0, -5.0]]
BETA = 0.5


def _tensors() -> list[torch.Tensor]:
    columns = torch.tensor(LOGPS, dtype=torch.float64).T
    return [c.clone().requires_grad_() for c in columns]


def _hand_margins() -> list[float]:
    return [BETA * ((pc - rc) - (pr - rr)) for pc, pr, rc, rr in LOGPS]


def _log_sigmoid(x: float) -> float:
    return -math.log1p(math.exp(-x))


def _sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def _check_gradient(tensors: list[torch.Tensor], dl_dm: list[float]) -> None:
    """d mean(l) / d logps from dl/dm: m = beta ((pc - rc) - (pr - rr))."""
    n = len(dl_dm)
    chain = torch.tensor(dl_dm, dtype=torch.float64) * BETA / n
    for tensor, sign in zip(tensors, (1, -1, -1, 1), strict=True):
        torch.testing.assert_close(tensor.grad, sign * chain, atol=1e-9, rtol=1e-6)


def test_cdpo_equals_the_hand_computation_in_value_and_gradient():
    eps = 0.2
    tensors = _tensors()
    losses, chosen, rejected = cdpo_loss(*tensors, beta=BETA, label_smoothing=eps)
    margins = _hand_margins()
    assert min(margins) < 0 < max(margins)  # both signs of the margin
    hand = [-(1 - eps) * _log_sigmoid(m) - eps * _log_sigmoid(-m) for m in margins]
    torch.testing.assert_close(losses, torch.tensor(hand, dtype=torch.float64))
    torch.testing.assert_close(chosen - rejected, torch.tensor(margins, dtype=torch.float64))
    losses.mean().backward()
    _check_gradient(tensors, [-(1 - eps) * (1 - _sigmoid(m)) + eps * _sigmoid(m) for m in margins])


def test_cdpo_with_eps_zero_is_dpo_exactly_and_eps_changes_it():
    margin = torch.linspace(-30, 30, 13, dtype=torch.float32)
    dpo = -torch.nn.functional.logsigmoid(margin)
    assert torch.equal(cdpo_margin_loss(margin, LossSettings(label_smoothing=0.0)), dpo)
    smoothed = cdpo_margin_loss(margin, LossSettings(label_smoothing=0.1))
    assert (smoothed - dpo).abs().max() > 1  # at m = 30 the smoothed loss is about 0.1 * 30


def test_odpo_equals_the_hand_computation_in_value_and_gradient():
    scale = 0.7
    sw = torch.tensor([3.0, 1.0, float("nan"), 2.0])
    sr = torch.tensor([1.0, 2.5, 5.0, 2.0])
    mask = torch.tensor([True, True, False, True])  # row 2 is unscored: its NaN is not used
    tensors = _tensors()
    losses, _, _ = odpo_loss(
        *tensors, beta=BETA, offset_scale=scale, score_chosen=sw, score_rejected=sr,
        score_mask=mask,
    )  # fmt: skip
    deltas = [scale * 2.0, scale * -1.5, 0.0, 0.0]
    margins = _hand_margins()
    hand = [-_log_sigmoid(m - d) for m, d in zip(margins, deltas, strict=True)]
    torch.testing.assert_close(losses, torch.tensor(hand, dtype=torch.float64))
    losses.mean().backward()
    _check_gradient(tensors, [-(1 - _sigmoid(m - d)) for m, d in zip(margins, deltas, strict=True)])
    _, offsets = odpo_margin_loss(
        torch.zeros(4), LossSettings(offset_scale=scale), score_chosen=sw, score_rejected=sr,
        score_mask=mask,
    )  # fmt: skip
    torch.testing.assert_close(offsets, torch.tensor(deltas))


@pytest.mark.parametrize("settings", [{"offset_scale": 0.0}, {"use_scores": False}])
def test_odpo_without_an_offset_is_dpo_exactly(settings):
    margin = torch.linspace(-2, 2, 5)
    scores = {"score_chosen": torch.full((5,), 4.0), "score_rejected": torch.zeros(5)}
    losses, offsets = odpo_margin_loss(margin, LossSettings(**settings), **scores)
    assert torch.equal(losses, -torch.nn.functional.logsigmoid(margin))
    assert not offsets.any()
    with_offset, _ = odpo_margin_loss(margin, LossSettings(offset_scale=0.5), **scores)
    assert (with_offset - losses).abs().min() > 0.1  # delta = 2 moves every pair


def test_odpo_names_a_bad_score_and_its_row():
    sw = torch.tensor([1.0, float("inf"), 0.0])
    with pytest.raises(ValueError, match=r"score_chosen is inf at row 1"):
        odpo_margin_loss(torch.zeros(3), LossSettings(), score_chosen=sw, score_rejected=sw * 0)
    with pytest.raises(ValueError, match="together"):
        odpo_margin_loss(torch.zeros(3), LossSettings(), score_chosen=sw)


def test_the_config_takes_one_core_loss_and_no_logsigmoid_partner(tmp_path):
    from capo.trl_adapter import trl_loss_types

    with pytest.raises(ValueError, match=r"one of \['capo', 'cdpo', 'odpo'\]"):
        CAPOConfig(output_dir=str(tmp_path), loss_type=["cdpo", "odpo"])
    with pytest.raises(ValueError, match=r"'odpo' cannot be combined with \['sigmoid'\]"):
        CAPOConfig(output_dir=str(tmp_path), loss_type=["odpo", "sigmoid"])
    with pytest.raises(ValueError, match="offset_scale must be >= 0"):
        CAPOConfig(output_dir=str(tmp_path), loss_type="odpo", offset_scale=-1.0)
    args = CAPOConfig(
        output_dir=str(tmp_path), loss_type=["cdpo", "sft"], loss_weights=[1, 1], use_cpu=True
    )
    assert args.core_loss == "cdpo" and not args.uses_capo
    assert trl_loss_types(["odpo", "sft"]) == ["sigmoid", "sft"]
    assert trl_loss_types(["cdpo"]) == ["sigmoid"]


# ---- the trainer: routed through TRL's sigmoid branch -----------------------------------


def _train(trainer) -> tuple[list[float], dict[str, torch.Tensor]]:
    trainer.train()
    losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
    return losses, {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}


def _same_training(a, b) -> bool:
    (l1, w1), (l2, w2) = a, b
    assert len(l1) == len(l2) == 3
    same_loss = torch.allclose(torch.tensor(l1), torch.tensor(l2), atol=1e-6, rtol=0)
    return same_loss and all(torch.allclose(w1[k], w2[k], atol=1e-6, rtol=0) for k in w1)


@pytest.fixture
def trl_sigmoid(tmp_path, make_tiny_model, tiny_tokenizer):
    """TRL's own DPO (loss_type sigmoid) on ``rows``: losses and final weights."""

    def run(rows: list[dict]) -> tuple[list[float], dict[str, torch.Tensor]]:
        plain = [{k: r[k] for k in ("prompt", "chosen", "rejected")} for r in rows]
        trainer = DPOTrainer(
            make_tiny_model(),
            args=tiny_args(DPOConfig, tmp_path / "trl", loss_type="sigmoid"),
            train_dataset=Dataset.from_list(plain),
            processing_class=tiny_tokenizer,
        )
        return _train(trainer)

    return run


def _ours(tmp_path, make_tiny_model, tiny_tokenizer, rows, tag, **settings):
    trainer = CAPOTrainer(
        make_tiny_model(),
        args=tiny_args(CAPOConfig, tmp_path / tag, **settings),
        train_dataset=Dataset.from_list(rows),
        processing_class=tiny_tokenizer,
    )
    return trainer, _train(trainer)


@pytest.mark.slow
def test_cdpo_trainer_with_eps_zero_trains_exactly_like_trl_sigmoid(
    tmp_path, make_tiny_model, tiny_tokenizer, trl_sigmoid
):
    rows = toy_pairs(16)
    trl = trl_sigmoid(rows)
    _, plain = _ours(tmp_path, make_tiny_model, tiny_tokenizer, rows, "a", loss_type="cdpo")
    _, smoothed = _ours(
        tmp_path, make_tiny_model, tiny_tokenizer, rows, "b", loss_type="cdpo", label_smoothing=0.2
    )
    assert _same_training(plain, trl)
    assert not _same_training(smoothed, trl)
    # at the first step pi = pi_ref, m = 0: every eps gives log 2
    assert abs(smoothed[0][0] - math.log(2)) < 1e-5


def _scored_rows() -> list[dict]:
    """Four pairs (one batch): three scored, one unscored."""
    rows = toy_pairs(4)
    for row, (sw, sr) in zip(rows, [(4.0, 1.0), (2.0, 3.0), (None, None), (5.0, 0.5)], strict=True):
        row.update(score_chosen=sw, score_rejected=sr)
    return rows


@pytest.mark.slow
def test_odpo_trainer_offset_zero_is_trl_sigmoid_and_its_first_loss_is_the_hand_value(
    tmp_path, make_tiny_model, tiny_tokenizer, trl_sigmoid
):
    rows = _scored_rows()
    trl = trl_sigmoid(rows)
    _, zero = _ours(
        tmp_path, make_tiny_model, tiny_tokenizer, rows, "a", loss_type="odpo", offset_scale=0.0
    )
    trainer, offset = _ours(
        tmp_path, make_tiny_model, tiny_tokenizer, rows, "b", loss_type="odpo", offset_scale=0.5
    )
    assert _same_training(zero, trl)
    assert not _same_training(offset, trl)
    # step 1: pi = pi_ref, so m = 0 and l = -logsigmoid(-delta) with delta = 0.5 (s_w - s_l)
    deltas = [0.5 * 3.0, 0.5 * -1.0, 0.0, 0.5 * 4.5]
    hand = sum(-_log_sigmoid(-d) for d in deltas) / len(deltas)
    assert abs(offset[0][0] - hand) < 1e-5 and abs(hand - math.log(2)) > 0.3
    first = next(h for h in trainer.state.log_history if "odpo/offset_mean" in h)
    assert first["odpo/offset_mean"] == pytest.approx(sum(deltas) / 4, abs=1e-6)
    assert not any("capo/weight_mean" in h for h in trainer.state.log_history)


# ---- filtered DPO: the data selection ---------------------------------------------------


def _selection_frame() -> pd.DataFrame:
    nan = float("nan")
    return pd.DataFrame(
        {
            "id": ["a", "b", "c", "d", "e", "f"],
            "score_chosen": [3.0, 1.0, nan, 1.0, nan, 2.0],
            "score_rejected": [1.0, 1.0, nan, 2.0, nan, 1.5],
            "translation_confidence": [nan, 0.9, 0.2, 0.1, nan, 0.5],
        },
        index=[10, 11, 12, 13, 14, 15],
    )


@pytest.mark.parametrize(
    ("settings", "kept", "dropped_score", "dropped_confidence"),
    [
        ({}, "abcdef", 0, 0),  # both filters off by default
        ({"min_score_margin": 0.5}, "acef", 2, 0),  # b: 0 < 0.5, d: -1; c, e unscored: kept
        ({"min_score_margin": -1.0}, "abcdef", 0, 0),  # d's -1 is not below -1
        ({"min_translation_confidence": 0.5}, "abef", 0, 2),  # c, d below; a, e untranslated
        ({"min_score_margin": 0.5, "min_translation_confidence": 0.5}, "aef", 2, 1),  # d: score
    ],
)
def test_select_pairs_by_hand(settings, kept, dropped_score, dropped_confidence):
    pairs = _selection_frame()
    before = pairs.copy()
    out, report = select_pairs(pairs, LossSettings(**settings))
    assert "".join(out["id"]) == kept
    assert list(out.index) == list(range(len(kept)))
    assert report == {
        "pairs": 6,
        "kept": len(kept),
        "dropped_score": dropped_score,
        "dropped_confidence": dropped_confidence,
    }
    pd.testing.assert_frame_equal(pairs, before)  # the input is not changed


def test_select_pairs_without_score_or_confidence_columns_keeps_everything():
    pairs = _selection_frame()[["id"]]
    strict = LossSettings(min_score_margin=100.0, min_translation_confidence=1.0)
    out, report = select_pairs(pairs, strict)
    assert list(out["id"]) == list(pairs["id"]) and report["kept"] == 6
    scored = _selection_frame().drop(columns="translation_confidence")
    out, report = select_pairs(scored, strict)
    assert list(out["id"]) == ["c", "e"] and report["dropped_score"] == 4
    same, report = keep_all(_selection_frame(), strict)
    assert len(same) == 6 and report == {
        "pairs": 6,
        "kept": 6,
        "dropped_score": 0,
        "dropped_confidence": 0,
    }


# ---- filtered DPO: the train stage ------------------------------------------------------


@pytest.fixture(scope="module")
def stage(tmp_path_factory) -> dict:
    """A tiny policy and 12 training pairs with reference log-probs: scored ones with margins
    2 to 7 (rows 4 and 9 unscored), three with a translation confidence."""
    from capo_pipelines.data.contract import join_reference
    from capo_pipelines.models.logps import reference_logps
    from capo_pipelines.models.tiny import build_tiny_llama, train_tokenizer
    from tests.test_reference import pairs_frame

    root = tmp_path_factory.mktemp("baselines")
    pairs = pairs_frame(12)
    pairs["translation_confidence"] = np.nan
    pairs.loc[[1, 4, 8], "translation_confidence"] = [0.2, 0.3, 0.9]
    tok = train_tokenizer([*pairs["prompt"], *pairs["chosen"], *pairs["rejected"]] * 3, 400)
    model = build_tiny_llama(tok, hidden_size=32, num_layers=2, num_heads=2, seed=0)
    model.save_pretrained(root / "policy")
    tok.save_pretrained(root / "policy")
    ref = reference_logps(model, tok, pairs, batch_size=8, max_length=64)
    return {"root": root, "pairs": join_reference(pairs, ref, "reference")}


def _params(root: Path, **train):
    data = {
        "seed": 0,
        "policy": {"max_length": 64},
        "train": {
            "losses": ["filtered", "sigmoid"],
            "batch_size": 4,
            "epochs": 1.0,
            "logging_steps": 1,
            "learning_rate": 1e-3,
            "warmup_ratio": 0.0,
            "loss_overrides": {
                "filtered": {"min_score_margin": 4.5, "min_translation_confidence": 0.5}
            },
            **train,
        },
    }
    (root / "params.yaml").write_text(yaml.safe_dump(data))
    return load_params(root / "params.yaml")


@pytest.mark.slow
def test_train_loss_filtered_trains_dpo_on_the_selected_pairs(stage):
    from capo_pipelines.models.training import make_config, train_loss

    root, pairs = stage["root"], stage["pairs"]
    params = _params(root)
    write_loss_settings("filtered", params, root / "settings")
    settings = read_loss_settings(root / "settings/filtered.json")
    assert make_config("filtered", params, root / "c", settings).loss_type == ["sigmoid"]
    nll = _params(root, nll_weight=0.5)
    assert make_config("filtered", nll, root / "c", settings).loss_type == ["sigmoid", "sft"]
    runs = {}
    for loss in ("filtered", "sigmoid"):
        runs[loss] = train_loss(
            loss,
            params,
            root / "policy",
            pairs,
            None,
            out_dir=root / loss / "model",
            checkpoint_dir=root / loss / "ckpt",
            settings=loss_settings(loss, params) if loss == "sigmoid" else settings,
        )
    # margins < 4.5: rows 3, 6, 7, 10, 11; confidence < 0.5: rows 1 and 4 (4 is unscored)
    report = json.loads((root / "filtered/model/selection.json").read_text())
    assert report == {"pairs": 12, "kept": 5, "dropped_score": 5, "dropped_confidence": 2}
    assert runs["filtered"].train_dataset.num_rows == 5
    assert runs["filtered"].state.global_step == 2  # ceil(5 / 4), against ceil(12 / 4)
    assert runs["sigmoid"].state.global_step == 3
    assert runs["filtered"].args.loss_type == ["sigmoid"]
    unfiltered = json.loads((root / "sigmoid/model/selection.json").read_text())
    assert unfiltered == {"pairs": 12, "kept": 12, "dropped_score": 0, "dropped_confidence": 0}
    weights = pd.read_parquet(root / "filtered/model/pair_weights.parquet")
    assert weights["id"].tolist() == pairs["id"].tolist()  # one row per pair, dropped included


def test_train_loss_refuses_a_selection_that_keeps_nothing(stage):
    from capo.errors import CapoError
    from capo_pipelines.models.training import train_loss

    root = stage["root"]
    params = _params(root)
    scored = stage["pairs"].iloc[:4]  # all scored: the unscored, untranslated row 9 is kept
    assert scored["score_chosen"].notna().all()
    with pytest.raises(CapoError, match="kept no training pair of 4"):
        train_loss(
            "filtered",
            params,
            root / "policy",
            scored,
            None,
            out_dir=root / "none/model",
            checkpoint_dir=root / "none/ckpt",
            settings=LossSettings(min_score_margin=100.0, min_translation_confidence=1.0),
        )


# ---- params: the losses, their settings documents and ranges ----------------------------


def _load(tmp_path: Path, text: str):
    path = tmp_path / "params.yaml"
    path.write_text(text + "\n", encoding="utf-8")
    return load_params(path)


def test_the_baselines_parse_and_each_document_holds_what_it_reads(tmp_path):
    params = _load(
        tmp_path,
        "loss: {min_score_margin: -1, offset_scale: 2}\n"
        "train: {losses: [cdpo, odpo, filtered], loss_overrides: {cdpo: {label_smoothing: 0.1},"
        " filtered: {min_translation_confidence: 0.25}}}",
    )
    assert params.train.losses == ("cdpo", "odpo", "filtered")
    docs = {loss: settings_document(loss, params) for loss in params.train.losses}
    assert docs == {
        "cdpo": {"beta": 0.1, "label_smoothing": 0.1},
        "odpo": {"beta": 0.1, "offset_scale": 2.0, "use_scores": True},
        "filtered": {"beta": 0.1, "min_score_margin": -1.0, "min_translation_confidence": 0.25},
    }
    for loss, doc in docs.items():
        read = read_loss_settings(write_loss_settings(loss, params, tmp_path / "settings"))
        assert {k: getattr(read, k) for k in doc} == doc  # every setting it reads, read back
        assert read == LossSettings(**doc)  # and the others at their defaults
    off = _load(tmp_path, "train: {losses: [filtered]}")
    doc = settings_document("filtered", off)
    assert doc["min_score_margin"] is None  # the score filter off: null in the file
    path = write_loss_settings("filtered", off, tmp_path / "off")
    assert '"min_score_margin": null' in path.read_text()
    assert read_loss_settings(path).min_score_margin is None


def test_capo_document_is_unchanged_by_the_new_settings(tmp_path):
    params = _load(tmp_path, "loss: {offset_scale: 3, min_score_margin: 1}")
    assert sorted(settings_document("capo", params)) == [
        "beta",
        "direction",
        "gamma",
        "kappa",
        "label_smoothing",
        "tau",
        "use_scores",
        "use_translation_confidence",
    ]
    assert sorted(settings_document("sigmoid", params)) == ["beta", "label_smoothing"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "train: {losses: [odpo], loss_overrides: {odpo: {offset_scale: -1}}}",
            "train.loss_overrides.odpo.offset_scale: must be >= 0, got -1",
        ),
        (
            "train: {losses: [filtered], loss_overrides: {filtered: {min_score_margin: high}}}",
            "train.loss_overrides.filtered.min_score_margin: must be a number, got 'high'",
        ),
        (
            "train: {loss_overrides: {filtered: {min_translation_confidence: 1.5}}}",
            "train.loss_overrides.filtered.min_translation_confidence: must be in [0, 1], got 1.5",
        ),
        ("loss: {offset_scale: -0.5}", "loss.offset_scale: must be >= 0, got -0.5"),
        ("loss: {min_score_margin: .inf}", "loss.min_score_margin: must be finite, got inf"),
        ("train: {losses: [dpo_filtered]}", "unknown loss 'dpo_filtered'"),
    ],
)
def test_baseline_settings_are_range_checked_under_their_dotted_key(tmp_path, text, message):
    with pytest.raises(ParamsError, match=re.escape(message)):
        _load(tmp_path, text)
