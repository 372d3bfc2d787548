"""What each command returns: one ``Result`` shape with a status, and the values particular to it.

``process`` gives a ``SceneResult`` per scene, ``change`` a ``ChangeResult`` per date pair,
``vectorize`` a ``PolygonsResult``, ``evaluate`` an ``EvaluationResult``. A failed item carries
``status="failed"`` and a one-line ``message``; nothing is signalled by the type of the value.
"""

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict

Status = Literal["done", "skipped", "failed"]


@dataclass(frozen=True)
class Result:
    """What happened to one item of a command: its status, outputs, and why it failed if it did."""

    name: str
    status: Status
    message: str = ""
    outputs: dict[str, Path] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def failed(self) -> bool:
        return self.status == "failed"


@dataclass(frozen=True)
class SceneResult(Result):
    """One scene of ``process``: tiles run, nodata tiles skipped, blocks reused from an
    interrupted run (of ``blocks``), polygons written."""

    tiles: int = 0
    tiles_skipped: int = 0
    blocks_reused: int = 0
    blocks: int = 0
    polygons: int | None = None

    @property
    def reuse_note(self) -> str:
        """What an interrupted earlier run saved, or ""."""
        if not self.blocks_reused:
            return ""
        return (
            f"{self.name}: reused {self.blocks_reused} of {self.blocks} blocks "
            f"({self.blocks_reused / self.blocks:.0%}) finished by an interrupted run"
        )


class _Value(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ChangeSummary(_Value):
    """The numbers of a change between two dates, in hectares (``summary.json``)."""

    scene_before: str
    scene_after: str
    date_before: str | None
    date_after: str | None
    forest_before_ha: float
    forest_after_ha: float
    loss_ha: float
    gain_ha: float
    observed_both_ha: float
    observed_share: float
    rule: dict[str, float]


@dataclass(frozen=True)
class ChangeResult(Result):
    """One date pair of ``change``: ``name`` is its output folder's (``<before>__<after>`` for
    ``change_pairs``)."""

    summary: ChangeSummary | None = None


@dataclass(frozen=True)
class PolygonsResult(Result):
    """Polygons of one class of a class raster (``vectorize``)."""

    count: int = 0


class ClassScores(_Value):
    """Precision, recall, F1 and IoU of one class (NaN where undefined), and its labelled pixels."""

    precision: float
    recall: float
    f1: float
    iou: float
    support: int


class PatchRecall(_Value):
    """Reference patches of one size class, and the share of them found."""

    patches: int
    recall: float


class EvaluationReport(_Value):
    """Scores of a class raster against reference labels (``report.json``): the confusion matrix
    (rows: reference class, columns: predicted), per-class scores, the target class's area error
    and, for rasters small enough to read whole, its boundary F1 and object recall by patch size."""

    classes: tuple[str, ...]
    target: str
    confusion: list[list[int]]
    scores: dict[str, ClassScores]
    area_error: float
    boundary_f1: float | None = None
    object_recall: dict[str, PatchRecall] | None = None


@dataclass(frozen=True)
class EvaluationResult(Result):
    """Scores of a class raster against reference labels (``evaluate``)."""

    report: EvaluationReport | None = None
