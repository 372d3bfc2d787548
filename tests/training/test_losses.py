import math

import pytest
import torch
import torch.nn.functional as F

from geoseg.training.losses import IGNORE, DiceFocalLoss, dice_loss, focal_loss


def two_pixels() -> tuple[torch.Tensor, torch.Tensor]:
    # Pixel 1 is class 0 with logits (2, 0); pixel 2 is class 1 with logits (0, 1).
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 1.0]]]])  # (1, 2, 1, 2)
    return logits, torch.tensor([[[0, 1]]])


def test_focal_with_gamma_zero_is_cross_entropy() -> None:
    logits, target = torch.randn(2, 3, 4, 5), torch.randint(0, 3, (2, 4, 5))
    torch.testing.assert_close(
        focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target)
    )


def test_focal_by_hand() -> None:
    logits, target = two_pixels()
    p1 = math.exp(2) / (math.exp(2) + 1)  # p_t of pixel 1
    p2 = math.exp(1) / (math.exp(1) + 1)  # p_t of pixel 2
    expected = -((1 - p1) ** 2 * math.log(p1) + (1 - p2) ** 2 * math.log(p2)) / 2
    assert focal_loss(logits, target, gamma=2.0).item() == pytest.approx(expected, rel=1e-6)
    weighted = -(0.25 * (1 - p1) ** 2 * math.log(p1) + 0.75 * (1 - p2) ** 2 * math.log(p2)) / 2
    assert focal_loss(logits, target, 2.0, torch.tensor([0.25, 0.75])).item() == pytest.approx(
        weighted, rel=1e-6
    )


def test_dice_by_hand() -> None:
    logits, target = two_pixels()
    p1 = math.exp(2) / (math.exp(2) + 1)
    p2 = math.exp(1) / (math.exp(1) + 1)
    # class 0: Σp·y = p1, Σp = p1 + (1 − p2), Σy = 1; class 1: Σp·y = p2, Σp = (1 − p1) + p2
    d0 = (2 * p1 + 1) / (p1 + 1 - p2 + 1 + 1)
    d1 = (2 * p2 + 1) / (1 - p1 + p2 + 1 + 1)
    assert dice_loss(logits, target).item() == pytest.approx(1 - (d0 + d1) / 2, rel=1e-6)


def test_ignored_pixels_count_for_nothing() -> None:
    logits, target = two_pixels()
    masked = target.clone()
    masked[0, 0, 1] = IGNORE
    only_first = (logits[..., :1], target[..., :1])
    assert focal_loss(logits, masked).item() == pytest.approx(focal_loss(*only_first).item())
    assert dice_loss(logits, masked).item() == pytest.approx(dice_loss(*only_first).item())


def test_combined_loss_is_the_weighted_sum() -> None:
    logits, target = torch.randn(1, 2, 8, 8), torch.randint(0, 2, (1, 8, 8))
    combined = DiceFocalLoss(0.5, 2.0, gamma=1.0)(logits, target)
    expected = 0.5 * dice_loss(logits, target) + 2.0 * focal_loss(logits, target, 1.0)
    torch.testing.assert_close(combined, expected)
