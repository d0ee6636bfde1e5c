"""How far above the floor a frozen base should sit, and whether a timing run resolves it.

With the whole base frozen, a step still runs the forward pass (the floor) and
trains the head: its backward pass and its update. Two estimates of that gap
above the floor, each as a fraction of the floor's time:

* **parts**: the head's share of the update (its weights at the all-weights
  update rate) plus its backward FLOPs at the full step's arithmetic rate;
* **cached**: the head's whole step on cached features, beyond the
  one-weight step (fixed cost).

`floor_gap` computes both from a `SweepResult`; `FloorGap.reading` turns the
paired whole/floor verdicts into the lesson's sentence, and `FloorGap.lines`
sets the measured ratio beside the two estimates.
"""

from __future__ import annotations

from dataclasses import dataclass

from freezelab.verdicts import PairedVerdict


@dataclass(frozen=True)
class FloorGap:
    """The two estimated gaps above the floor, with their parts.

    Attributes:
        floor_ms: The floor's step time.
        head_update_ms: The head's part of the update, at the all-weights rate.
        head_backward_ms: The head's backward FLOPs at the given arithmetic rate.
        cached_beyond_fixed_ms: The cached-features step minus the one-weight step.
    """

    floor_ms: float
    head_update_ms: float
    head_backward_ms: float
    cached_beyond_fixed_ms: float

    @property
    def parts(self) -> float:
        """The head's update and backward pass, as a fraction of the floor."""
        return (self.head_update_ms + self.head_backward_ms) / self.floor_ms

    @property
    def cached(self) -> float:
        """The head's cached step beyond the fixed cost, as a fraction of the floor."""
        return self.cached_beyond_fixed_ms / self.floor_ms

    @property
    def low(self) -> float:
        """The smaller estimate."""
        return min(self.parts, self.cached)

    @property
    def high(self) -> float:
        """The larger estimate."""
        return max(self.parts, self.cached)

    def reading(self, slower: PairedVerdict, faster: PairedVerdict) -> str:
        """Where the whole base sits against the floor, from both one-sided verdicts.

        Args:
            slower: "whole base slower than the floor" (ratio, ``higher``).
            faster: "whole base faster than the floor" (ratio, ``lower``).

        Returns:
            "slower than the floor, as expected", a broken-measurement
            warning when faster is shown, or, when neither is, the ratio's
            middle half beside the expected range.
        """
        if slower.shown:
            return "slower than the floor, as expected"
        if faster.shown:
            return "FASTER than the floor: a broken measurement"
        return (
            f"within this run's resolution of the floor (whole/floor middle half "
            f"{slower.lower_quartile:.3f} to {slower.upper_quartile:.3f}; the cost model expects "
            f"{self.low:.1%} to {self.high:.1%} above it)"
        )

    def lines(self, slower: PairedVerdict) -> list[str]:
        """The estimates, then the measured whole/floor ratio beside them.

        Args:
            slower: The "whole base slower than the floor" verdict (its
                median and quartiles are the same-round whole/floor ratios).

        Returns:
            Printable lines.
        """
        ratio, q1, q3 = slower.median, slower.lower_quartile, slower.upper_quartile
        if ratio > 1 + self.high:
            side = "above both estimates"
        elif ratio < 1 + self.low:
            side = "below both estimates"
        else:
            side = "between the two estimates"
        lines = [
            f"expected gap above the floor's {self.floor_ms:.0f} ms: {self.parts:.1%} (the head's "
            f"update about {self.head_update_ms:.1f} ms + its backward pass about "
            f"{self.head_backward_ms:.2f} ms) or {self.cached:.1%} (the head's whole cached step "
            f"beyond the one-weight step, {self.cached_beyond_fixed_ms:.1f} ms)",
            f"median whole/floor ratio {ratio:.3f} (middle half {q1:.3f} to {q3:.3f}): {side} "
            f"({1 + self.low:.3f} and {1 + self.high:.3f})",
        ]
        for name, gap in (
            ("the head's update + backward", self.parts),
            ("the head's cached step", self.cached),
        ):
            if 1 + gap < q1:
                where = "below the ratio's middle half"
            elif 1 + gap > q3:
                where = "above the ratio's middle half"
            else:
                where = "inside the ratio's middle half"
            lines.append(f"  estimate {gap:.1%} ({name}): {where}")
        return lines


def floor_gap(
    setup: dict, head_params: int, head_backward_flops: float, flop_rate: float
) -> FloorGap:
    """The two estimates of the frozen base's step above the floor.

    Args:
        setup: A `SweepResult.setup` from a run with the floor, the update
            probe and the cached-features arm (``floor_ms``, ``update_ms``,
            ``full_trainable_params``, ``cached_ms``, ``overhead_ms``).
        head_params: Parameters the head trains.
        head_backward_flops: The head's backward FLOPs per step (the cost
            model's, with the whole base frozen).
        flop_rate: FLOP per second at which to convert them to time.

    Returns:
        A `FloorGap`.

    Raises:
        ValueError: If ``setup`` lacks one of those keys or a number is not
            positive where it must be.
    """
    keys = ("floor_ms", "update_ms", "full_trainable_params", "cached_ms", "overhead_ms")
    missing = [key for key in keys if not isinstance(setup, dict) or setup.get(key) is None]
    if missing:
        raise ValueError(
            f"floor_gap needs a sweep setup with the floor, the update probe and cached features "
            f"({', '.join(keys)}). Received: missing {missing}"
        )
    if not flop_rate > 0 or head_params < 0 or head_backward_flops < 0:
        raise ValueError(
            "flop_rate must be positive, head_params and head_backward_flops not negative. "
            f"Received: flop_rate={flop_rate!r}, head_params={head_params!r}, "
            f"head_backward_flops={head_backward_flops!r}"
        )
    return FloorGap(
        floor_ms=float(setup["floor_ms"]),
        head_update_ms=head_params * setup["update_ms"] / setup["full_trainable_params"],
        head_backward_ms=head_backward_flops / flop_rate * 1e3,
        cached_beyond_fixed_ms=float(setup["cached_ms"] - setup["overhead_ms"]),
    )
