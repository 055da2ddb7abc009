"""Properties of capo_loss and capo_weights from docs/design.md §1, on hand-made tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from capo import capo_loss, capo_weights
from capo.loss import data_confidence


def _logps(b: int = 16, seed: int = 0, dtype: torch.dtype = torch.float64) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [(-50 * torch.rand(b, generator=g, dtype=dtype)).requires_grad_() for _ in range(4)]


def _dpo_sigmoid(pc, pr, rc, rr, beta, label_smoothing=0.0):
    # TRL's loss_type="sigmoid" written out (trl.DPOTrainer, "sigmoid" branch).
    logits = (pc - rc) - (pr - rr)
    return (
        -F.logsigmoid(beta * logits) * (1 - label_smoothing)
        - F.logsigmoid(-beta * logits) * label_smoothing
    )


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_gamma_zero_without_scores_is_dpo_in_value_and_gradient(label_smoothing):
    a = _logps()
    b = [t.detach().clone().requires_grad_() for t in a]
    ours, _, _ = capo_loss(*a, beta=0.3, gamma=0.0, tau=0.7, label_smoothing=label_smoothing)
    ref = _dpo_sigmoid(*b, beta=0.3, label_smoothing=label_smoothing)
    torch.testing.assert_close(ours, ref, atol=1e-6, rtol=0)
    ours.mean().backward()
    ref.mean().backward()
    for x, y in zip(a, b, strict=True):
        torch.testing.assert_close(x.grad, y.grad, atol=1e-6, rtol=0)


def test_at_initialisation_weight_equals_data_confidence():
    pc, pr, _, _ = _logps()
    sc, sr = torch.tensor([3.0, 1.0, 2.0, 2.0]), torch.tensor([1.0, 3.0, 2.0, 0.0])
    w, c = capo_weights(
        torch.zeros(4), gamma=2.0, tau=0.5, kappa=0.8, score_chosen=sc, score_rejected=sr
    )
    torch.testing.assert_close(c, torch.full((4,), 0.5))
    torch.testing.assert_close(w, torch.sigmoid(0.8 * (sc - sr)))
    # policy == reference gives margin 0 through the full loss as well
    losses, rc, rr = capo_loss(
        pc[:4], pr[:4], pc[:4], pr[:4], gamma=2.0, kappa=0.8, score_chosen=sc, score_rejected=sr
    )
    torch.testing.assert_close(
        losses, (torch.sigmoid(0.8 * (sc - sr)) * torch.log(torch.tensor(2.0))).double()
    )
    assert torch.all(rc == 0) and torch.all(rr == 0)


def test_equal_scores_give_half_confidence():
    q = data_confidence(torch.tensor([1.5, -2.0]), torch.tensor([1.5, -2.0]), kappa=3.0)
    torch.testing.assert_close(q, torch.tensor([0.5, 0.5]))


def test_score_mask_marks_unscored_rows_as_full_confidence():
    q = data_confidence(
        torch.tensor([1.0, 0.0]),
        torch.tensor([1.0, float("nan")]),
        score_mask=torch.tensor([True, False]),
    )
    torch.testing.assert_close(q, torch.tensor([0.5, 1.0]))


@pytest.mark.parametrize("gamma", [0.0, 0.5, 1.0, 2.5])
def test_gradient_on_margin_matches_the_specification(gamma):
    b = 32
    g = torch.Generator().manual_seed(1)
    margin = (6 * torch.randn(b, generator=g, dtype=torch.float64)).requires_grad_()
    sc, sr = torch.randn(b, generator=g), torch.randn(b, generator=g)
    zeros = torch.zeros(b, dtype=torch.float64)
    # beta = 1 and zero reference/rejected log-probs make the chosen log-prob the margin
    losses, _, _ = capo_loss(
        margin,
        zeros,
        zeros,
        zeros,
        beta=1.0,
        gamma=gamma,
        direction="down",
        tau=1.0,
        kappa=0.7,
        score_chosen=sc,
        score_rejected=sr,
    )
    losses.mean().backward()
    c = torch.sigmoid(margin.detach())
    q = torch.sigmoid(0.7 * (sc - sr)).double()
    expected = -((2 * c) ** gamma) * q * (1 - c) / b
    torch.testing.assert_close(margin.grad, expected, atol=1e-9, rtol=1e-7)


def test_no_gradient_flows_through_the_weight():
    m = torch.randn(8, requires_grad=True)
    w, c = capo_weights(m, gamma=1.0)
    assert not w.requires_grad and not c.requires_grad


def test_confidently_wrong_and_learned_pairs_fade():
    m = torch.tensor([-8.0, 0.0, 8.0])
    w, _ = capo_weights(m, gamma=1.0, direction="down")
    grad_scale = w * (1 - torch.sigmoid(m))  # |dL/dm| up to 1/B
    assert grad_scale[1] > grad_scale[0] and grad_scale[1] > grad_scale[2]
    assert w[0] < 0.01  # a pair the model is sure is flipped barely pulls


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
def test_finite_for_huge_margins_in_low_precision(dtype):
    big = torch.tensor([1e4, -1e4, 0.0, 5e3], dtype=dtype)
    zeros = torch.zeros(4, dtype=dtype)
    pc = big.clone().requires_grad_()
    losses, _, _ = capo_loss(
        pc,
        zeros,
        zeros,
        zeros,
        beta=1.0,
        gamma=2.0,
        tau=0.5,
        score_chosen=torch.ones(4),
        score_rejected=torch.zeros(4),
    )
    losses.mean().backward()
    assert losses.dtype == dtype
    assert torch.isfinite(losses).all() and torch.isfinite(pc.grad).all()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beta": 0.0}, "beta must be > 0"),
        ({"beta": -1.0}, "beta must be > 0"),
        ({"gamma": -0.1}, "gamma must be >= 0"),
        ({"tau": 0.0}, "tau must be > 0"),
        (
            {"kappa": 0.0, "score_chosen": torch.ones(4), "score_rejected": torch.ones(4)},
            "kappa must be > 0",
        ),
        ({"label_smoothing": 0.5}, "label_smoothing"),
        ({"score_chosen": torch.ones(4)}, "must be given together"),
        (
            {
                "score_chosen": torch.tensor([1.0, 2.0, float("nan"), 0.0]),
                "score_rejected": torch.zeros(4),
            },
            "score_chosen is nan at row 2",
        ),
        (
            {
                "score_chosen": torch.zeros(4),
                "score_rejected": torch.tensor([0.0, float("inf"), 1.0, 1.0]),
            },
            "score_rejected is inf at row 1",
        ),
        ({"score_chosen": torch.zeros(3), "score_rejected": torch.zeros(3)}, "shape"),
    ],
)
def test_bad_input_names_the_parameter_or_row(kwargs, message):
    z = torch.zeros(4)
    with pytest.raises(ValueError, match=message):
        capo_loss(z, z, z, z, **kwargs)


def test_mismatched_logp_shapes_are_rejected():
    with pytest.raises(ValueError, match="ref_rejected_logps"):
        capo_loss(torch.zeros(4), torch.zeros(4), torch.zeros(4), torch.zeros(3))


def test_each_part_and_direction_by_hand():
    """w = g * q_s * q_t: each factor written out for hand-picked margins and scores."""
    m = torch.tensor([2.0, -1.0, 0.0, 0.5], dtype=torch.float64)
    sc, sr = torch.tensor([9.0, 5.0, 7.0, 1.0]), torch.tensor([6.0, 8.0, 7.0, 1.0])
    t = torch.tensor([0.9, float("nan"), 0.2, 1.0])
    gamma, tau, kappa = 1.5, 0.5, 0.7
    c = 1 / (1 + torch.exp(-m / tau))
    q_s = 1 / (1 + torch.exp(-kappa * (sc - sr).double()))
    q_t = torch.tensor([0.9, 1.0, 0.2, 1.0], dtype=torch.float64)  # NaN: not translated
    cases = {
        "down": (2 * c) ** gamma,
        "up": (2 * (1 - c)) ** gamma,
    }
    for direction, g in cases.items():
        w, conf = capo_weights(
            m,
            gamma=gamma,
            tau=tau,
            kappa=kappa,
            score_chosen=sc,
            score_rejected=sr,
            translation_confidence=t,
            direction=direction,
        )
        torch.testing.assert_close(conf, c)
        torch.testing.assert_close(w, g * q_s * q_t)
    # model confidence only: no scores, no translation confidence
    w, _ = capo_weights(m, gamma=gamma, tau=tau, direction="down")
    torch.testing.assert_close(w, (2 * c) ** gamma)
    # data confidence only: gamma 0
    w, _ = capo_weights(m, gamma=0.0, kappa=kappa, score_chosen=sc, score_rejected=sr)
    torch.testing.assert_close(w, q_s)
    # translation confidence only
    w, _ = capo_weights(m, gamma=0.0, translation_confidence=t)
    torch.testing.assert_close(w, q_t)


def test_up_direction_with_gamma_zero_and_no_confidence_is_dpo():
    a = _logps(seed=3)
    ours, _, _ = capo_loss(*a, beta=0.2, gamma=0.0, direction="up")
    torch.testing.assert_close(ours, _dpo_sigmoid(*a, beta=0.2), atol=1e-6, rtol=0)


def test_bad_translation_confidence_and_direction_are_named():
    m = torch.zeros(3)
    with pytest.raises(ValueError, match=r"translation_confidence is 1\.5 at row 1"):
        capo_weights(m, translation_confidence=torch.tensor([0.5, 1.5, 0.2]))
    with pytest.raises(ValueError, match="direction"):
        capo_weights(m, direction="sideways")
