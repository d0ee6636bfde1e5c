"""A lesson's log of the verdicts it printed, and one correction for asking them all.

A lesson that asks many paired questions (`freezelab.verdicts.paired_verdict`)
prints each verdict once, where it is asked, and says in its summary whether
its headline verdicts also survive Holm's correction over every question it
asked (`freezelab.vis.chance.holm`). `VerdictLog` keeps that bookkeeping out
of the learner's view: ``log.show(verdict)`` prints and records, and
``log.footnote(headline)`` gives the summary's line.
"""

from __future__ import annotations

from collections.abc import Sequence

from freezelab.verdicts import MAX_CHANCE, PairedVerdict, format_statistic
from freezelab.vis.chance import holm


class VerdictLog:
    """The verdicts a lesson printed, in order.

    Attributes:
        asked: Every verdict passed to `show`, in the order shown.
    """

    def __init__(self) -> None:
        self.asked: list[PairedVerdict] = []

    @staticmethod
    def line(verdict: PairedVerdict, unit: str = "") -> str:
        """One verdict as a lesson prints it: claim, reading, median and middle half.

        Args:
            verdict: A `PairedVerdict`.
            unit: Appended to the numbers, e.g. ``" ms"``.

        Returns:
            E.g. ``"a faster than b: shown in this run (20 of 20; chance < 0.001%); median
            ratio 0.88, middle half 0.855 to 0.903"``.

        Raises:
            ValueError: If ``verdict`` is not a `PairedVerdict`.
        """
        _check_verdict(verdict)
        kind = "ratio" if verdict.statistic == "ratio" else "difference"
        median, low, high = (
            format_statistic(v, verdict.statistic)
            for v in (verdict.median, verdict.lower_quartile, verdict.upper_quartile)
        )
        text = (
            f"{verdict.claim}: {verdict.reading}; median {kind} {median}{unit}, "
            f"middle half {low} to {high}{unit}"
        )
        if not verdict.shown and verdict.favouring >= verdict.fewest_to_show:
            text += " (enough rounds agree, but the middle half reaches no difference)"
        return text

    def show(self, verdict: PairedVerdict, unit: str = "") -> PairedVerdict:
        """Prints `line` for a verdict and records it among the questions asked.

        Args:
            verdict: A `PairedVerdict`.
            unit: Appended to the numbers, e.g. ``" ms"``.

        Returns:
            The same verdict, so ``test = log.show(paired_verdict(...))`` reads naturally.

        Raises:
            ValueError: If ``verdict`` is not a `PairedVerdict`.
        """
        print(self.line(verdict, unit))
        self.asked.append(verdict)
        return verdict

    def kept(self, headline: Sequence[PairedVerdict]) -> list[bool]:
        """Whether each headline verdict is shown and also passes Holm over every question asked.

        Args:
            headline: Verdicts that were shown through this log.

        Returns:
            One bool per headline verdict: shown by the paired rule **and** kept
            by Holm's correction at 5 % over all of `asked`.

        Raises:
            ValueError: If a headline verdict was never shown through this log.
        """
        missing = [v.claim for v in headline if not any(v is asked for asked in self.asked)]
        if missing or not self.asked:
            raise ValueError(
                "Every headline verdict must be shown through this log first (log.show). "
                f"Received: verdicts never shown: {missing}"
            )
        steps = holm([verdict.chance for verdict in self.asked])
        step_of = {id(verdict): step for verdict, step in zip(self.asked, steps)}
        return [verdict.shown and step_of[id(verdict)].shown for verdict in headline]

    def footnote(self, headline: Sequence[PairedVerdict]) -> str:
        """The summary's line on asking many questions.

        Args:
            headline: The verdicts the summary rests on (shown through this log).

        Returns:
            How many one-sided questions were asked and at which bounds, and
            which headline verdicts (if any) Holm's correction does not keep.

        Raises:
            ValueError: As `kept`.
        """
        kept = self.kept(headline)
        halved = sum(verdict.max_chance < MAX_CHANCE for verdict in self.asked)
        bounds = (
            f"{len(self.asked) - halved} at 5 %, {halved} at 2.5 %: a question asked both ways "
            "counts as two"
            if halved
            else "each at 5 %"
        )
        failing = [verdict.claim for verdict, ok in zip(headline, kept) if not ok]
        verdict = "(all pass it)" if not failing else "except: " + "; ".join(failing)
        return (
            f"Footnote: {len(self.asked)} one-sided questions were asked ({bounds}); Holm's "
            f"correction at 5 % over all of them keeps the headline verdicts {verdict}"
        )


def _check_verdict(verdict: object) -> None:
    if not isinstance(verdict, PairedVerdict):
        raise ValueError(
            "VerdictLog takes a PairedVerdict (from fl.paired_verdict or a sweep's compare()). "
            f"Received: {type(verdict).__name__}"
        )
