"""The ``[surveys]`` table: whether and how closing surveys are sent. Pure data."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

SCALES = {"1-5": (1, 5), "0-10": (0, 10)}
_DEFAULT_THRESHOLD = {"1-5": 3, "0-10": 7}


@dataclass(frozen=True)
class SurveysConfig:
    """The ``[surveys]`` table."""

    enabled: bool = True
    skip_queues: tuple[str, ...] = ()
    scale: str = "1-5"
    threshold: int = 0  # 0: the scale's default (3 of 5, 7 of 10)
    token_days: int = 30

    @property
    def low(self) -> int:
        """Scores below this are low; at or above it count as satisfied.

        >>> SurveysConfig().low, SurveysConfig(scale="0-10").low
        (3, 7)
        """
        return self.threshold or _DEFAULT_THRESHOLD[self.scale]

    @property
    def scores(self) -> range:
        first, last = SCALES[self.scale]
        return range(first, last + 1)

    def sends_for(self, queue: str) -> bool:
        return self.enabled and queue not in self.skip_queues

    @classmethod
    def build(
        cls, values: dict[str, Any], queues: Collection[str], problem: Callable[[str, str], None]
    ) -> SurveysConfig:
        for name in values["skip_queues"]:
            if name not in queues:
                problem("surveys.skip_queues", f"no queue named {name!r}")
        first, last = SCALES[values["scale"]]
        threshold = values["threshold"]
        if threshold and not first < threshold <= last:
            problem(
                "surveys.threshold",
                f"expected a score above {first} and at most {last} on scale"
                f" {values['scale']}, got {threshold}",
            )
        return cls(
            enabled=values["enabled"],
            skip_queues=tuple(values["skip_queues"]),
            scale=values["scale"],
            threshold=threshold,
            token_days=values["token_days"],
        )
