"""Ranks with ties: which subsets the data cannot tell apart.

Used by :func:`~nwb_dicpop.analyze_neuromodulation`; the rules are in
``docs/neuromodulation.md`` (section "Ranking, ties and detectability").
"""

from __future__ import annotations

import numpy as np

from nwb_dicpop.models import NeuronModel
from nwb_dicpop.models.kernel import kernel_for
from nwb_dicpop.neuromodulation._inputs import subset_name
from nwb_dicpop.neuromodulation._moves import DICLikelihood

__all__ = ["EQUIVALENT_COSINE", "EQUIVALENT_MARGIN", "TIE_MARGIN", "equivalence", "log_mean_stderr", "tie_ranks"]

TIE_MARGIN = 1.0
"""Subsets whose log evidence is within this of a rank's leader (plus the Monte Carlo standard
error of the DIC part) share its rank: a Bayes factor below e is not worth a choice."""
EQUIVALENT_MARGIN = 3.0
"""Subsets that push the DICs the same way as a first-ranked one share its rank down to this
margin: the evidence between them comes from the prior, not from the data."""
EQUIVALENT_COSINE = 0.95
"""|cos| between two conductances' DIC levers (in the likelihood's units) above which they push
the DICs the same way."""


def log_mean_stderr(log_values: np.ndarray) -> float:
    """Standard error of ``log(mean(exp(v)))`` (delta method); 0 when degenerate."""
    finite = np.isfinite(log_values)
    if not finite.any():
        return 0.0
    w = np.exp(log_values - np.max(log_values[finite]))
    mean = w.mean()
    return float(w.std(ddof=1) / np.sqrt(w.size) / mean) if w.size > 1 and mean > 0 else 0.0


def equivalence(
    spec: NeuronModel, start: np.ndarray, likelihood: DICLikelihood, limits: dict[str, tuple[float, float]]
) -> dict[tuple[str, str], bool]:
    """Which pairs of conductances push the likelihood's DICs the same way.

    Two conductances are equivalent when the mean ``|cos|`` between their DIC levers (the
    DIC change per unit change of ``ln g``, in units of the likelihood's widths) over the
    members is at least ``EQUIVALENT_COSINE``, and each can move the DICs by at least one
    width within its modulation limits (a channel with no reach has no direction to speak of).
    """
    kernel = kernel_for(spec)
    sens = kernel.sensitivity_matrix(spec.threshold, start)
    levers = sens * (start / start[:, kernel.leak_index, None])[:, None, :]  # (n, 3, n_cond)
    scaled = levers[:, list(likelihood.rows), :] / likelihood.width[None, :, None]
    norm = np.linalg.norm(scaled, axis=1)
    names = [n for n in spec.conductance_names if n != spec.leak]
    reach = {}
    for name in names:
        low, high = limits[name]
        reach[name] = float(np.median(norm[:, spec.index(name)])) * max(1.0 - low, high - 1.0) >= 1.0
    out = {}
    for a in names:
        for b in names:
            i, j = spec.index(a), spec.index(b)
            with np.errstate(invalid="ignore", divide="ignore"):
                cos = np.abs(np.sum(scaled[:, :, i] * scaled[:, :, j], axis=1)) / (norm[:, i] * norm[:, j])
            parallel = bool(np.nanmean(cos) >= EQUIVALENT_COSINE) if np.isfinite(cos).any() else False
            out[(a, b)] = parallel and reach[a] and reach[b]
    return out


def _same_direction(s: tuple[str, ...], t: tuple[str, ...], equivalent: dict[tuple[str, str], bool]) -> bool:
    """Two subsets of one size whose conductances pair up as equal or equivalent."""
    if len(s) != len(t) or s == t:
        return False
    if len(s) == 1:
        return equivalent[(s[0], t[0])]
    (a, b), (c, d) = s, t
    return ((a == c or equivalent[(a, c)]) and (b == d or equivalent[(b, d)])) or (
        (a == d or equivalent[(a, d)]) and (b == c or equivalent[(b, c)])
    )


def _group(
    leader: tuple[str, ...], remaining: list[tuple[str, ...]], score: dict[tuple[str, ...], float],
    stderr: dict[tuple[str, ...], float], equivalent: dict[tuple[str, str], bool],
    simulated: set[tuple[str, ...]], reasons: dict[tuple[str, ...], str],
) -> list[tuple[str, ...]]:
    """The subsets of ``remaining`` that share the rank led by ``leader`` (leader first)."""
    reasons[leader] = ""
    members = [leader]
    for s in remaining:
        if s == leader or (s in simulated) != (leader in simulated) or score[s] > score[leader]:
            continue
        if not np.isfinite(score[s]):  # no feasible move: tied only with other such subsets
            if not np.isfinite(score[leader]):
                reasons[s] = "no feasible move, like " + subset_name(leader)
                members.append(s)
            continue
        gap = score[leader] - score[s]
        margin = TIE_MARGIN + float(np.hypot(stderr[leader], stderr[s]))
        twin = next((m for m in members if _same_direction(s, m, equivalent)), None)
        if gap <= margin:
            reasons[s] = f"within {margin:.2f} of {subset_name(leader)}"
        elif gap <= EQUIVALENT_MARGIN and twin is not None:
            reasons[s] = f"pushes the DICs like {subset_name(twin)}"
        else:
            continue
        members.append(s)
    return members


def tie_ranks(
    order: list[tuple[str, ...]], score: dict[tuple[str, ...], float], stderr: dict[tuple[str, ...], float],
    equivalent: dict[tuple[str, str], bool], n_leading: int,
) -> tuple[list[tuple[str, ...]], dict[tuple[str, ...], int], dict[tuple[str, ...], str]]:
    """Competition ranks with ties.

    Walking down ``order``, the first subset not yet ranked leads a new rank; a later subset
    joins it when its score is within ``TIE_MARGIN`` (+ the combined standard error) of
    the leader's, or within ``EQUIVALENT_MARGIN`` when it pushes the DICs the same way as a
    member.  A subset that contains another member of its rank leaves it for a later rank (a
    smaller subset that fits as well is preferred; when that removes the leader, the best
    remaining member leads and the rank is formed again).  Subsets past the first
    ``n_leading`` (not simulated) never join simulated ones.  Returns the new order (ranks
    together), the ranks (1 + subsets in earlier ranks) and why each tied subset shares its
    rank.
    """
    groups: list[list[tuple[str, ...]]] = []
    reasons: dict[tuple[str, ...], str] = {}
    simulated = set(order[:n_leading])
    remaining = list(order)
    while remaining:
        leader = remaining[0]
        while True:
            members = _group(leader, remaining, score, stderr, equivalent, simulated, reasons)
            smaller = [m for m in members if not any(set(o) < set(m) for o in members)]
            if leader in smaller:
                break
            leader = smaller[0]  # a smaller subset fits as well as the leader: it leads
        groups.append(smaller)
        remaining = [s for s in remaining if s not in smaller]
    ranks: dict[tuple[str, ...], int] = {}
    new_order: list[tuple[str, ...]] = []
    for members in groups:
        for s in members:
            ranks[s] = len(new_order) + 1
        new_order.extend(members)
    return new_order, ranks, reasons
