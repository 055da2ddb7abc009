"""The CAPO loss: DPO's logistic loss scaled per pair by the model's and the data's confidence.

This module is capo's own specification of the mechanism in Confidence-Aware Preference
Optimization (arXiv:2511.07691); the paper's exact equation is not reproduced. For a batch
of B pairs (x, y_w, y_l), with log-probs summed over completion tokens::

    r_w = beta * (log pi(y_w|x) - log pi_ref(y_w|x))          implicit rewards
    r_l = beta * (log pi(y_l|x) - log pi_ref(y_l|x))
    m   = r_w - r_l                                            relative reward (margin)
    c   = sigmoid(m / tau)                                     model confidence that y_w > y_l
    g   = (2 c)^gamma        direction "down"                  model-confidence factor
        = (2 (1 - c))^gamma  direction "up" (focal-style)
    q_s = sigmoid(kappa * (s_w - s_l)), or 1 without scores    data confidence from scores
    q_t = translation_confidence t in [0, 1], or 1 without     data confidence of a translation
    q   = q_s * q_t
    w   = stopgrad(g * q)                                      the dynamic scale
    L   = mean(w * -logsigmoid(m))

The parts can be switched apart: gamma = 0 removes the model confidence (g = 1); a caller
that passes no scores (``CAPOConfig(use_scores=False)``) has q_s = 1, and one that passes no
translation confidence (``use_translation_confidence=False``) has q_t = 1. gamma = 0 with no
data confidence is exactly DPO (TRL's ``loss_type="sigmoid"``). At initialisation
(pi == pi_ref) c = 0.5, so g = 1, w = q and training starts as (data-weighted) DPO.

Direction "down" makes dL/dm proportional to (2c)^gamma * q * (1 - sigmoid(m)): pairs the
model confidently rejects (possibly flipped labels) fade, and so do pairs already learned.
Direction "up" is the opposite choice, a focal-style scale that pulls hardest on the pairs
the model is least sure of. Which one helps is an empirical question; capo's noise study
(reports/noise_study.md) measures both, and each part alone.

Two baselines a practitioner would try instead share the margin m and TRL's route::

    cDPO (conservative DPO, loss "cdpo"): label smoothing on DPO's logistic loss
        l = -(1 - eps) * logsigmoid(m) - eps * logsigmoid(-m)       eps = label_smoothing
    ODPO (DPO with an offset, Amini et al. 2024, loss "odpo")
        delta = offset_scale * (s_w - s_l)   the pair has both scores (and use_scores); else 0
        l     = -logsigmoid(m - delta)

Both weight every pair alike: no model confidence, no data confidence; eps = 0 and
offset_scale = 0 are exactly DPO. ODPO's offset is capo's own specification: linear in the
score difference (the paper also considers a log-scaled difference, not implemented here). A
pair the scores rank strongly must win by a wider margin; a score gap against the label
(s_w < s_l) lowers the bar below zero.

Imports only torch (and the settings' defaults and ranges, capo/settings.py), so it
can be used without TRL.
"""

from __future__ import annotations

import math
from typing import TypeVar

import torch
import torch.nn.functional as F

from capo.settings import DIRECTIONS, LossSettings, check_setting

__all__ = [
    "DIRECTIONS",
    "capo_loss",
    "capo_margin_loss",
    "capo_weights",
    "cdpo_loss",
    "cdpo_margin_loss",
    "data_confidence",
    "implicit_margin",
    "implicit_rewards",
    "odpo_loss",
    "odpo_margin_loss",
    "odpo_offset",
]

Tensor = torch.Tensor
Logps = TypeVar("Logps")  # a torch.Tensor or a numpy array: the formula is plain arithmetic


def implicit_rewards(
    policy_chosen_logps: Logps,
    policy_rejected_logps: Logps,
    ref_chosen_logps: Logps,
    ref_rejected_logps: Logps,
    beta: float,
) -> tuple[Logps, Logps]:
    """(r_w, r_l): r = beta * (log pi(y|x) - log pi_ref(y|x)), each of shape (B,).

    Plain arithmetic, so torch tensors and numpy arrays alike (evaluation uses float64
    arrays); log-probs are summed over completion tokens, as TRL 1.16 computes them.
    """
    return (
        beta * (policy_chosen_logps - ref_chosen_logps),
        beta * (policy_rejected_logps - ref_rejected_logps),
    )


def implicit_margin(
    policy_chosen_logps: Logps,
    policy_rejected_logps: Logps,
    ref_chosen_logps: Logps,
    ref_rejected_logps: Logps,
    beta: float,
) -> Logps:
    """m = r_w - r_l, in TRL 1.16's order of operations: beta times the difference of the
    chosen and rejected log-ratios (TRL's ``beta * delta_score``), shape (B,)."""
    chosen_logratios = policy_chosen_logps - ref_chosen_logps
    return beta * (chosen_logratios - (policy_rejected_logps - ref_rejected_logps))


def _check(**values: float | str) -> None:
    """The settings' own ranges (capo/settings.py): ValueError naming the setting."""
    for name, value in values.items():
        check_setting(name, value)


def _first_bad_row(mask: Tensor) -> int:
    return int(mask.nonzero()[0, 0].item()) if mask.ndim else 0


def translation_factor(translation_confidence: Tensor | None) -> Tensor | None:
    """q_t per pair: the translation confidence, 1 where it is NaN (a pair not translated).

    Returns None when none is given. Raises ValueError for a value outside [0, 1] or
    infinite, naming the first bad row.
    """
    if translation_confidence is None:
        return None
    t = translation_confidence.float()
    missing = t.isnan()
    bad = ~missing & ((t < 0) | (t > 1))
    if bad.any():
        row = _first_bad_row(bad)
        raise ValueError(f"translation_confidence is {t.flatten()[row].item()} at row {row}")
    return torch.where(missing, torch.ones_like(t), t)


def data_confidence(
    score_chosen: Tensor | None,
    score_rejected: Tensor | None,
    *,
    kappa: float = LossSettings.kappa,
    score_mask: Tensor | None = None,
    translation_confidence: Tensor | None = None,
) -> Tensor | None:
    """q = q_s * q_t per pair: q_s = sigmoid(kappa * (s_w - s_l)), 1 where ``score_mask``
    is False; q_t = ``translation_confidence``, 1 where it is NaN (see translation_factor).

    Returns None when neither scores nor a translation confidence is given (q = 1 for every
    pair). Shapes: (B,). Raises ValueError when only one score is given or a used score is
    NaN or infinite, naming the tensor and the first bad row.
    """
    _check(kappa=kappa)
    return _data_confidence(score_chosen, score_rejected, kappa, score_mask, translation_confidence)


def _data_confidence(
    score_chosen: Tensor | None,
    score_rejected: Tensor | None,
    kappa: float,
    score_mask: Tensor | None,
    translation_confidence: Tensor | None,
) -> Tensor | None:
    """data_confidence with ``kappa`` already checked (it comes from a LossSettings)."""
    q_t = translation_factor(translation_confidence)
    q_s = _score_confidence(score_chosen, score_rejected, kappa=kappa, score_mask=score_mask)
    if q_s is None or q_t is None:
        return q_s if q_t is None else q_t
    if q_s.shape != q_t.shape:
        raise ValueError(
            f"translation_confidence {tuple(q_t.shape)} and scores {tuple(q_s.shape)} differ"
        )
    return q_s * q_t


def _score_confidence(
    score_chosen: Tensor | None,
    score_rejected: Tensor | None,
    *,
    kappa: float,
    score_mask: Tensor | None,
) -> Tensor | None:
    scored = _score_difference(score_chosen, score_rejected, score_mask)
    if scored is None:
        return None
    diff, used = scored
    q = torch.sigmoid(kappa * diff.float())
    return torch.where(used, q, torch.ones_like(q))


def _score_difference(
    score_chosen: Tensor | None, score_rejected: Tensor | None, score_mask: Tensor | None
) -> tuple[Tensor, Tensor] | None:
    """(s_w - s_l, 0 where unscored; the has-scores mask), or None without scores.

    Raises ValueError when only one score is given, the shapes differ, or a used score is
    NaN or infinite, naming the tensor and the first bad row.
    """
    if score_chosen is None and score_rejected is None:
        return None
    if score_chosen is None or score_rejected is None:
        raise ValueError("score_chosen and score_rejected must be given together")
    if score_chosen.shape != score_rejected.shape:
        raise ValueError(
            f"score_chosen {tuple(score_chosen.shape)} and score_rejected "
            f"{tuple(score_rejected.shape)} have different shapes"
        )
    used = torch.ones_like(score_chosen, dtype=torch.bool) if score_mask is None else score_mask
    for name, scores in (("score_chosen", score_chosen), ("score_rejected", score_rejected)):
        bad = ~torch.isfinite(scores) & used
        if bad.any():
            row = _first_bad_row(bad)
            raise ValueError(f"{name} is {scores.flatten()[row].item()} at row {row}")
    return torch.where(used, score_chosen - score_rejected, torch.zeros_like(score_chosen)), used


def capo_weights(
    margin: Tensor,
    *,
    gamma: float = LossSettings.gamma,
    tau: float = LossSettings.tau,
    kappa: float = LossSettings.kappa,
    score_chosen: Tensor | None = None,
    score_rejected: Tensor | None = None,
    score_mask: Tensor | None = None,
    translation_confidence: Tensor | None = None,
    direction: str = LossSettings.direction,
) -> tuple[Tensor, Tensor]:
    """The dynamic scale w = stopgrad(g * q) and the model confidence c.

    ``margin`` is m = r_w - r_l, shape (B,). g = (2c)^gamma for ``direction="down"``,
    (2(1 - c))^gamma for ``"up"``; q as in data_confidence. Returns (w, c), both (B,),
    detached, computed in at least float32 and cast back to ``margin``'s dtype. g is
    evaluated as exp(gamma * (log 2 + logsigmoid(+-m / tau))), finite for any finite m.
    The keywords become one LossSettings, checked here.
    """
    settings = LossSettings(gamma=gamma, tau=tau, kappa=kappa, direction=direction)
    return _weights(margin, settings, score_chosen, score_rejected, score_mask,
                    translation_confidence)  # fmt: skip


def _weights(
    margin: Tensor,
    settings: LossSettings,
    score_chosen: Tensor | None,
    score_rejected: Tensor | None,
    score_mask: Tensor | None,
    translation_confidence: Tensor | None,
) -> tuple[Tensor, Tensor]:
    """capo_weights for settings already checked: (w, c), nothing validated again."""
    gamma, tau = settings.gamma, settings.tau
    m = margin.detach().to(torch.promote_types(margin.dtype, torch.float32))
    log_c = F.logsigmoid(m / tau)
    log_g = log_c if settings.direction == "down" else F.logsigmoid(-m / tau)
    w = torch.exp(gamma * (math.log(2.0) + log_g))
    q = _data_confidence(
        score_chosen, score_rejected, settings.kappa, score_mask, translation_confidence
    )
    if q is not None:
        if q.shape != w.shape:
            raise ValueError(f"scores have shape {tuple(q.shape)}, log-probs {tuple(w.shape)}")
        w = w * q.to(w)
    return w.to(margin.dtype), log_c.exp().to(margin.dtype)


def _check_logps(**tensors: Tensor) -> None:
    shapes = {name: tuple(t.shape) for name, t in tensors.items()}
    if len(set(shapes.values())) != 1:
        raise ValueError(f"log-prob tensors must share one shape (B,), got {shapes}")


def capo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = LossSettings.beta,
    gamma: float = LossSettings.gamma,
    tau: float = LossSettings.tau,
    kappa: float = LossSettings.kappa,
    label_smoothing: float = LossSettings.label_smoothing,
    score_chosen: Tensor | None = None,
    score_rejected: Tensor | None = None,
    score_mask: Tensor | None = None,
    translation_confidence: Tensor | None = None,
    direction: str = LossSettings.direction,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pair CAPO losses and detached implicit rewards.

    All four log-prob tensors have shape (B,): log-probs summed over completion tokens.
    ``score_chosen``/``score_rejected`` (B,) are optional annotation scores; rows where the
    optional boolean ``score_mask`` is False count as unscored (q = 1). ``label_smoothing``
    is TRL's conservative-DPO epsilon (0 gives the equation in the module docstring). The
    keywords become one LossSettings, checked here; capo_margin_loss takes it whole.

    Returns (losses, chosen_rewards, rejected_rewards), each (B,); reduce with ``.mean()``.
    """
    _check_logps(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    settings = LossSettings(
        beta=beta,
        gamma=gamma,
        tau=tau,
        kappa=kappa,
        label_smoothing=label_smoothing,
        direction=direction,
    )
    chosen_rewards, rejected_rewards = implicit_rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    losses, _, _ = capo_margin_loss(
        chosen_rewards - rejected_rewards,
        settings,
        score_chosen=score_chosen,
        score_rejected=score_rejected,
        score_mask=score_mask,
        translation_confidence=translation_confidence,
    )
    return losses, chosen_rewards.detach(), rejected_rewards.detach()


def capo_margin_loss(
    margin: Tensor,
    settings: LossSettings,
    *,
    score_chosen: Tensor | None = None,
    score_rejected: Tensor | None = None,
    score_mask: Tensor | None = None,
    translation_confidence: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pair losses w * -logsigmoid(m) from the margin m = r_w - r_l, shape (B,).

    ``settings`` is taken whole and not checked again (a LossSettings checked itself when it
    was made): gamma, tau, kappa, direction and label_smoothing as in the module docstring;
    scores count only with ``settings.use_scores``, the translation confidence only with
    ``settings.use_translation_confidence``. With label smoothing epsilon the logistic term
    is TRL's conservative-DPO form -(1 - eps) logsigmoid(m) - eps logsigmoid(-m).
    Returns (losses, w, c), each (B,).
    """
    if not settings.use_scores:
        score_chosen = score_rejected = score_mask = None
    if not settings.use_translation_confidence:
        translation_confidence = None
    w, c = _weights(
        margin, settings, score_chosen, score_rejected, score_mask, translation_confidence
    )
    return w * _smoothed_logistic(margin, settings.label_smoothing), w, c


def _smoothed_logistic(margin: Tensor, label_smoothing: float) -> Tensor:
    """-(1 - eps) logsigmoid(m) - eps logsigmoid(-m); eps = 0 computes -logsigmoid(m) alone."""
    logistic = -(1 - label_smoothing) * F.logsigmoid(margin)
    if label_smoothing:
        logistic = logistic - label_smoothing * F.logsigmoid(-margin)
    return logistic


def cdpo_margin_loss(margin: Tensor, settings: LossSettings) -> Tensor:
    """Per-pair cDPO losses -(1 - eps) logsigmoid(m) - eps logsigmoid(-m), eps =
    ``settings.label_smoothing``, from the margin m = r_w - r_l, shape (B,).

    Every pair weighs the same (no confidence of any kind); eps = 0 is DPO exactly (TRL's
    ``loss_type="sigmoid"``). Unlike TRL's ``robust`` it is not divided by (1 - 2 eps).
    ``settings`` is taken whole and not checked again.
    """
    return _smoothed_logistic(margin, settings.label_smoothing)


def odpo_offset(
    settings: LossSettings,
    score_chosen: Tensor | None = None,
    score_rejected: Tensor | None = None,
    score_mask: Tensor | None = None,
) -> Tensor | None:
    """ODPO's offset delta = offset_scale * (s_w - s_l) per pair, 0 where ``score_mask`` is
    False; None without scores or with ``settings.use_scores`` false (delta = 0 everywhere).

    Computed in float32. Raises ValueError as data_confidence does for bad scores.
    """
    if not settings.use_scores:
        return None
    scored = _score_difference(score_chosen, score_rejected, score_mask)
    if scored is None:
        return None
    diff, _ = scored
    return settings.offset_scale * diff.float()


def odpo_margin_loss(
    margin: Tensor,
    settings: LossSettings,
    *,
    score_chosen: Tensor | None = None,
    score_rejected: Tensor | None = None,
    score_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """Per-pair ODPO losses -logsigmoid(m - delta) and the offsets delta, each (B,).

    delta as in odpo_offset (0 for an unscored pair, and for all without scores, so
    offset_scale 0 or no scores is DPO exactly). ``settings`` is taken whole and not checked
    again. The offset is a constant of the data: no gradient flows through it.
    """
    delta = odpo_offset(settings, score_chosen, score_rejected, score_mask)
    if delta is None:
        return -F.logsigmoid(margin), torch.zeros_like(margin)
    if delta.shape != margin.shape:
        raise ValueError(f"scores have shape {tuple(delta.shape)}, log-probs {tuple(margin.shape)}")
    delta = delta.to(margin.dtype)
    return -F.logsigmoid(margin - delta), delta


def cdpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = LossSettings.beta,
    label_smoothing: float = LossSettings.label_smoothing,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pair cDPO losses and detached implicit rewards, as capo_loss returns them.

    The four log-prob tensors have shape (B,). The keywords become one LossSettings,
    checked here. Returns (losses, chosen_rewards, rejected_rewards), each (B,).
    """
    _check_logps(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    settings = LossSettings(beta=beta, label_smoothing=label_smoothing)
    chosen_rewards, rejected_rewards = implicit_rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    losses = cdpo_margin_loss(chosen_rewards - rejected_rewards, settings)
    return losses, chosen_rewards.detach(), rejected_rewards.detach()


def odpo_loss(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    *,
    beta: float = LossSettings.beta,
    offset_scale: float = LossSettings.offset_scale,
    use_scores: bool = LossSettings.use_scores,
    score_chosen: Tensor | None = None,
    score_rejected: Tensor | None = None,
    score_mask: Tensor | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """Per-pair ODPO losses and detached implicit rewards, as capo_loss returns them.

    The four log-prob tensors have shape (B,); scores and ``score_mask`` as in capo_loss.
    The keywords become one LossSettings, checked here. Returns (losses, chosen_rewards,
    rejected_rewards), each (B,).
    """
    _check_logps(
        policy_chosen_logps=policy_chosen_logps,
        policy_rejected_logps=policy_rejected_logps,
        ref_chosen_logps=ref_chosen_logps,
        ref_rejected_logps=ref_rejected_logps,
    )
    settings = LossSettings(beta=beta, offset_scale=offset_scale, use_scores=use_scores)
    chosen_rewards, rejected_rewards = implicit_rewards(
        policy_chosen_logps, policy_rejected_logps, ref_chosen_logps, ref_rejected_logps, beta
    )
    losses, _ = odpo_margin_loss(
        chosen_rewards - rejected_rewards,
        settings,
        score_chosen=score_chosen,
        score_rejected=score_rejected,
        score_mask=score_mask,
    )
    return losses, chosen_rewards.detach(), rejected_rewards.detach()
