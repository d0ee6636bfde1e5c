"""Figures for lesson 06: arms paired by seed, and arms after every epoch."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: Colour and marker of each line of `plot_arms_by_step`, in drawing order.
STEP_STYLES = (("tab:red", "o"), ("tab:blue", "o"), ("tab:green", "D"))


def _check_equal_lengths(values: Mapping[str, Sequence[float]], name: str) -> int:
    """The common length of the sequences in `values`; raises for none or unequal lengths."""
    lengths = {len(v) for v in values.values()}
    if not values or len(lengths) != 1 or 0 in lengths:
        raise ValueError(
            f"{name} needs at least one non-empty sequence, all of one length. "
            f"Received: {name}={dict(values)!r}"
        )
    return lengths.pop()


def spread_offsets(values: Sequence[float], width: float = 0.08) -> np.ndarray:
    """Horizontal offsets that put dots with the same value side by side.

    Args:
        values: The dots' values.
        width: The distance between two neighbouring dots.

    Returns:
        One offset per value: 0 for a value that occurs once, else centred
        around 0 in steps of `width`.
    """
    values = np.asarray(values, dtype=float)
    offsets = np.zeros(len(values))
    for value in np.unique(values):
        same = np.flatnonzero(values == value)
        offsets[same] = width * (np.arange(len(same)) - (len(same) - 1) / 2)
    return offsets


def plot_paired_arms(
    arms: Mapping[str, Sequence[float]],
    pairs: Mapping[str, tuple[str, str]],
    title: str = "",
    chance: float | None = None,
):
    """Each arm per seed (one line per seed), and the paired differences per seed.

    Args:
        arms: Arm name -> accuracy per seed, every arm in the same seed order.
        pairs: Label -> (first arm, second arm); the right panel draws first
            minus second per seed, labelled with how many are above zero.
        title: The left panel's title.
        chance: Accuracy by chance, drawn as a dotted line (None: no line).

    Returns:
        The matplotlib figure (left axis: the arms; right axis: the differences).

    Raises:
        ValueError: For no arms, arms of unequal length, or a pair naming an
            unknown arm.
    """
    import matplotlib.pyplot as plt

    seeds = _check_equal_lengths(arms, "arms")
    unknown = [arm for pair in pairs.values() for arm in pair if arm not in arms]
    if not pairs or unknown:
        raise ValueError(
            f"pairs must name arms of `arms`. Received: pairs={dict(pairs)!r}, arms={list(arms)!r}"
        )
    figure, (axis, diff_axis) = plt.subplots(
        1, 2, figsize=(11, 3.4), gridspec_kw={"width_ratios": [3, 2]}
    )
    names = list(arms)
    positions = range(len(names))
    axis.plot(
        positions,
        [np.median(arms[name]) for name in names],
        marker="s",
        color="black",
        linewidth=2,
        zorder=3,
        label="median",
    )
    for index in range(seeds):
        axis.plot(
            positions,
            [arms[name][index] for name in names],
            marker="o",
            color="tab:blue",
            alpha=0.6,
            zorder=2,
            label="one seed (own split)" if index == 0 else None,
        )
    axis.set_xticks(list(positions), names)
    axis.set_ylabel("validation accuracy")
    if chance is not None:
        axis.axhline(chance, color="grey", linestyle=":", label=f"chance ({chance:g})")
    axis.set_ylim(0, 1)
    axis.set_title(title)
    axis.legend(loc="center right")

    diff_axis.axhline(0.0, color="grey", linewidth=1)
    labels = []
    for position, (label, (first, second)) in enumerate(pairs.items()):
        differences = np.subtract(arms[first], arms[second])
        labels.append(f"{label}\n({int(np.sum(differences > 0))} of {seeds} > 0)")
        diff_axis.plot(
            position + spread_offsets(differences), differences, "o", color="tab:blue", alpha=0.6
        )
        diff_axis.plot(
            [position - 0.2, position + 0.2],
            [np.median(differences)] * 2,
            color="black",
            linewidth=2,
        )
    diff_axis.set_xticks(range(len(labels)), labels)
    diff_axis.set_xlim(-0.5, len(labels) - 0.5)
    diff_axis.set_ylabel("accuracy difference (first - second arm)")
    diff_axis.set_title("Paired differences per seed (0: no difference)")
    figure.tight_layout()
    return figure


def plot_arms_by_step(
    steps: Sequence[int],
    by_arm: Mapping[str, Sequence[Sequence[float]]],
    momentum: float = 0.99,
    share_of: str = "updating",
):
    """Several arms' accuracy after every epoch: one dot per seed, a line through the medians.

    Args:
        steps: The number of training steps at each evaluation.
        by_arm: Label -> ``values[evaluation][seed]`` (at most three arms,
            drawn side by side at each step count).
        momentum: BN's momentum; ``momentum ** steps`` is printed under each tick.
        share_of: The arm whose moving averages that share describes (axis label).

    Returns:
        The matplotlib figure.

    Raises:
        ValueError: For no arms, more than three, or an arm whose number of
            evaluations differs from ``len(steps)``.
    """
    import matplotlib.pyplot as plt

    steps = [int(s) for s in steps]
    if (
        not by_arm
        or len(by_arm) > len(STEP_STYLES)
        or any(len(v) != len(steps) for v in by_arm.values())
    ):
        raise ValueError(
            f"by_arm needs one to {len(STEP_STYLES)} arms, each with one entry per step count "
            f"({len(steps)}). Received: by_arm with lengths "
            f"{ {k: len(v) for k, v in by_arm.items()} }"
        )
    seeds = {len(values) for by_step in by_arm.values() for values in by_step}
    gap = min(np.diff(steps)) if len(steps) > 1 else max(steps[0], 1)
    shift = 0.1 * gap
    figure, axis = plt.subplots(figsize=(8, 3.6))
    middle = (len(by_arm) - 1) / 2
    for index, ((label, by_step), (color, marker)) in enumerate(zip(by_arm.items(), STEP_STYLES)):
        at = [s + (index - middle) * shift for s in steps]
        for values, x in zip(by_step, at):
            axis.plot([x] * len(values), values, ".", color=color, alpha=0.35)
        axis.plot(
            at,
            [np.median(v) for v in by_step],
            marker + "-",
            color=color,
            label=f"{label} (median)",
        )
    axis.set_xticks(steps, [f"{s}\n{momentum:g}**{s} = {momentum**s:.2f}" for s in steps])
    axis.set_xlabel(
        f"fine-tuning steps (under each: share of source statistics left in the {share_of} arm's "
        "moving averages, computed)"
    )
    axis.set_ylabel("validation accuracy")
    axis.set_ylim(0, 1)
    axis.legend(loc="lower right")
    axis.set_title(f"Medians of the {max(seeds)} seeds (dots: one seed each)")
    figure.tight_layout()
    return figure


def plot_bn_record(record: dict, steps: Sequence[int]):
    """The record's three arms after the chosen step counts (`plot_arms_by_step`).

    Args:
        record: From `freezelab.finetune.bn_record.load_bn_record`.
        steps: Step counts at which the record evaluated, e.g. ``(40, 80, 480)``.

    Returns:
        The matplotlib figure, titled as background.

    Raises:
        ValueError: For a step count the record did not evaluate at.
    """
    by_step = {epoch["steps"]: epoch for epoch in record["part_d"]["by_epoch"]}
    missing = [s for s in steps if s not in by_step]
    if missing or not steps:
        raise ValueError(
            f"The record evaluated after {sorted(by_step)} steps. Received: steps={list(steps)}"
        )
    drawn = [by_step[s] for s in steps]
    figure = plot_arms_by_step(
        list(steps),
        {
            "statistics updating": [epoch["updating"] for epoch in drawn],
            "updating, re-estimated": [epoch["updating_reestimated"] for epoch in drawn],
            "statistics kept": [epoch["kept"] for epoch in drawn],
        },
    )
    figure.axes[0].set_title(
        f"Record (background): {len(record['settings']['seeds'])} seeds, full mode, "
        f"{record['date'][:10]}"
    )
    # Short tick labels: the record's step counts are too close for the long ones.
    figure.axes[0].set_xticks(list(steps), [f"{s}\n{0.99**s:.3f}" for s in steps])
    return figure
