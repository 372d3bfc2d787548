"""Losses for imbalanced segmentation: soft Dice, focal, and their weighted sum (the default).

All take logits ``(N, C, H, W)`` and integer targets ``(N, H, W)``; pixels whose target is
``ignore_index`` count for nothing (unlabelled pixels of sparse labels).

- Dice (per class, then averaged): ``1 − (2 Σ p·y + ε) / (Σ p + Σ y + ε)``, with ``p`` the softmax
  probability and ``y`` the one-hot target. It scores overlap, so a small class weighs as much as a
  large one.
- Focal: ``−α_c (1 − p_t)^γ log p_t`` averaged over labelled pixels; ``γ = 0`` and no class weights
  give cross-entropy. It down-weights the easy pixels that dominate imbalanced scenes.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from geoseg.evaluation import IGNORE


def dice_loss(
    logits: torch.Tensor, target: torch.Tensor, ignore_index: int = IGNORE, eps: float = 1.0
) -> torch.Tensor:
    labelled = (target != ignore_index).unsqueeze(1)
    probs = torch.softmax(logits, dim=1) * labelled
    one_hot = F.one_hot(torch.where(labelled[:, 0], target, 0), logits.shape[1])
    one_hot = one_hot.permute(0, 3, 1, 2).to(probs.dtype) * labelled
    dims = (0, 2, 3)
    overlap = (probs * one_hot).sum(dims)
    score = (2 * overlap + eps) / (probs.sum(dims) + one_hot.sum(dims) + eps)
    return 1 - score.mean()


def focal_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    gamma: float = 2.0,
    class_weights: torch.Tensor | None = None,
    ignore_index: int = IGNORE,
) -> torch.Tensor:
    labelled = target != ignore_index
    log_p = F.log_softmax(logits, dim=1)
    safe = torch.where(labelled, target, 0).unsqueeze(1)
    log_pt = log_p.gather(1, safe)[:, 0]
    weight = (1 - log_pt.exp()) ** gamma
    if class_weights is not None:
        weight = weight * class_weights.to(logits.device)[safe[:, 0]]
    losses = -weight * log_pt
    return losses[labelled].mean() if labelled.any() else logits.sum() * 0


@dataclass(frozen=True)
class DiceFocalLoss:
    """``dice_weight · Dice + focal_weight · focal``: the trainer's default loss."""

    dice_weight: float = 1.0
    focal_weight: float = 1.0
    gamma: float = 2.0
    class_weights: tuple[float, ...] | None = None

    def __call__(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        weights = torch.tensor(self.class_weights) if self.class_weights else None
        return self.dice_weight * dice_loss(logits, target) + self.focal_weight * focal_loss(
            logits, target, self.gamma, weights
        )
