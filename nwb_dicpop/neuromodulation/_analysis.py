"""``analyze_neuromodulation``: which conductances changed, from spike times before and after.

The method is written out in ``docs/neuromodulation.md``; in short, for every candidate
subset ``S`` of conductances it scores

    log E(S) = log mean_m z_S(m) - SIZE_PENALTY * (|S| - 1)  [+ log q(S)]

where ``m`` runs over the degenerate population built at the "before" DICs, ``z_S(m)`` is the
marginal likelihood of the "after" DICs when member ``m`` is modulated in ``S`` only
(:mod:`._moves`: a Laplace prior on the log-ratios within the model's modulation limits, a
heavy-tailed likelihood around the inferred "after" DICs), and, with ``validate=True``,
``q(S)`` is the mean agreement of moved members, started from members whose Brian2 simulation
reproduces the "before" train, with the recorded change of firing (:mod:`._simulate`).
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nwb_dicpop._validation import check_positive, normalize_rng, seed_of
from nwb_dicpop.containers import DICEstimate, Population
from nwb_dicpop.models import NeuronModel, get_model
from nwb_dicpop.models.kernel import kernel_for
from nwb_dicpop.neuromodulation._inputs import (
    MIN_SPIKES,
    Train,
    candidate_subsets,
    check_limits,
    resolve_trains,
    subset_name,
)
from nwb_dicpop.neuromodulation._moves import (
    LAPLACE_SCALE,
    DICLikelihood,
    SubsetFit,
    fit_no_change,
    fit_subset,
    log_mean_exp,
    sample_moves,
)
from nwb_dicpop.neuromodulation._ranking import (
    EQUIVALENT_COSINE,
    EQUIVALENT_MARGIN,
    TIE_MARGIN,
    equivalence,
    log_mean_stderr,
    tie_ranks,
)

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NeuromodulationResult", "analyze_neuromodulation"]

logger = logging.getLogger(__name__)

SIZE_PENALTY = 1.0
"""Log prior cost of each conductance beyond the first ("no change" and single conductances
have the same prior): a smaller subset is preferred when it fits."""
N_PAIR_DRAWS = 48
"""Posterior draws per member for the evidence of a pair."""
LIKELIHOOD_SCALE = 1.5
"""Width of the "after" DIC likelihood in units of the inferred standard deviations."""
LIKELIHOOD_DEGREES = 3.0
"""Degrees of freedom of the Student-t likelihood of the "after" DICs."""
G_F_STD = 1.0
"""Standard deviation assumed for a given fast DIC ``g_f`` (estimates carry none)."""
DETECTION_THRESHOLD = 2.0
"""Smallest log Bayes factor of the best subset against "no change" for a detectable change
(a factor of e^2 = 7.4, "positive" evidence on the Kass-Raftery scale)."""
MAX_FIRST_RANK = 3
"""Most subsets that may share the first rank of an attributable (detectable) change."""
N_SIMULATED_PAIRS = 4
"""Pairs with the best DIC evidence whose moves are simulated when ``validate=True`` (beside
every single conductance and the pairs that extend the best single)."""
N_EXTENSION_PAIRS = 6
"""Pairs that extend the leading single conductances, simulated after them (best DIC
evidence first)."""
MAX_SIMULATED_WINDOW = 6.0
"""Longest recorded window of the analysis' simulations, in seconds."""


@dataclass(frozen=True)
class NeuromodulationResult:
    """Outcome of :func:`analyze_neuromodulation`.

    Attributes
    ----------
    model_name : str
    ranking : pandas.DataFrame
        One row per candidate subset, most plausible first.  Columns: ``subset`` (names
        joined by "+" in the model's order), ``rank`` (1 is the most plausible; tied subsets
        share a rank; ``<NA>`` for every row when the change is not detectable), ``cost``
        (posterior mean of the summed ``|ln(g_after / g_before)|`` of the changed
        conductances), ``feasible_fraction``, ``size``, ``log_evidence`` (the score the
        ranking sorts by), ``log_evidence_dic`` (its DIC part), ``log_bayes_factor`` (against
        no change), ``reproduced_fraction`` and ``n_simulated`` (``validate=True``; NaN / 0
        for subsets not simulated), ``bound_limited_fraction``, ``bound_decides`` and
        ``tie_reason``.
    detectable : bool
        True when a change is detected (``change_detected``) and at most ``MAX_FIRST_RANK``
        subsets share the first rank; False when the DICs before and after do not differ
        beyond their uncertainty, or when too many subsets explain the change equally well.
    reason : str
        Why the change is (not) detectable, with the numbers.
    before, after : DICEstimate
        One-unit estimates (inferred, or as given).
    before_statistics, after_statistics : dict
        Spike statistics of the two trains (empty for given estimates).
    before_population : Population
        The degenerate population at the "before" DICs.
    moved : dict of str to Population
        Forward moves of the "before" population by each first-ranked subset (and the
        runner-up when alone), drawn from each member's posterior over moves.
    no_change : dict
        ``log_evidence``, ``log_evidence_dic`` and ``reproduced_fraction`` of "no change".
    bound_notes : tuple of str
        Where a modulation limit decides (a subset excluded or re-ranked by a limit), and
        other remarks of the analysis.
    change_detected : bool
        The best subset beats "no change" by ``DETECTION_THRESHOLD`` (whether or not it can
        be told apart from the others).
    settings : dict
        Every setting and constant used, for the record.
    unit_id : object or None
        The unit analysed (the ``unit`` argument; None when none was passed).
    before_window, after_window : (float, float) or None
        ``(t_start, t_stop)`` in seconds of the two trains (None for a given DICEstimate).
    """

    model_name: str
    ranking: pd.DataFrame
    detectable: bool
    reason: str
    before: DICEstimate
    after: DICEstimate
    before_statistics: dict[str, Any]
    after_statistics: dict[str, Any]
    before_population: Population
    moved: dict[str, Population]
    no_change: dict[str, float]
    bound_notes: tuple[str, ...]
    change_detected: bool = False
    settings: dict[str, Any] = field(default_factory=dict)
    unit_id: Any = None
    before_window: tuple[float, float] | None = None
    after_window: tuple[float, float] | None = None

    @property
    def top(self) -> tuple[str, ...]:
        """The first-ranked subsets (several when tied; empty when not detectable)."""
        if not self.detectable:
            return ()
        first = self.ranking["rank"] == 1
        return tuple(self.ranking.loc[first, "subset"])

    def to_dict(self) -> dict[str, Any]:
        """Plain Python types only (lists, floats, str): ready for JSON or NWB storage."""
        ranking = self.ranking.astype(object).where(self.ranking.notna(), None)
        return {
            "model_name": self.model_name,
            "detectable": bool(self.detectable),
            "change_detected": bool(self.change_detected),
            "reason": self.reason,
            "ranking": ranking.to_dict(orient="records"),
            "before": _estimate_dict(self.before),
            "after": _estimate_dict(self.after),
            "before_statistics": dict(self.before_statistics),
            "after_statistics": dict(self.after_statistics),
            "no_change": dict(self.no_change),
            "bound_notes": list(self.bound_notes),
            "before_population": self.before_population.conductances.tolist(),
            "conductance_names": list(self.before_population.conductance_names),
            "moved": {name: pop.conductances.tolist() for name, pop in self.moved.items()},
            "settings": dict(self.settings),
            "unit_id": self.unit_id.item() if isinstance(self.unit_id, np.generic) else self.unit_id,
            "before_window": None if self.before_window is None else list(self.before_window),
            "after_window": None if self.after_window is None else list(self.after_window),
        }

    def __repr__(self) -> str:
        head = ", ".join(self.top) if self.detectable else "no detectable change"
        return (
            f"NeuromodulationResult(model={self.model_name!r}, {len(self.ranking)} subsets, "
            f"first: {head}, validated={self.settings.get('validate')})"
        )


def _estimate_dict(estimate: DICEstimate) -> dict[str, Any]:
    row = estimate.to_dataframe().iloc[0].to_dict()
    return {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}


# --------------------------------------------------------------------------- entry point
def analyze_neuromodulation(
    before: Any,
    after: Any,
    *,
    model: str | NeuronModel,
    recording: Any = None,
    unit: Any = None,
    n_models: int = 200,
    max_subset_size: int = 2,
    subsets: Any = None,
    validate: bool = False,
    n_simulated: int = 16,
    modulation_limits: Any = None,
    min_spikes: int = MIN_SPIKES,
    rng: int | np.random.Generator | None = None,
) -> NeuromodulationResult:
    """Rank the subsets of conductances that most plausibly changed between two recordings.

    Parameters
    ----------
    before, after : array of float, SpikeTrains, neo.SpikeTrain, DICEstimate, window or epoch
        The two spike trains of one neuron (seconds), or, with ``recording``, two windows
        ``(t_start, t_stop)`` in seconds (or two epoch names of an NWB file).  A one-unit
        :class:`~nwb_dicpop.DICEstimate` skips the inference (then ``validate`` must be
        False: there is no train to compare with).
    model : str or NeuronModel
        ``"stg"``, ``"da"`` or a declared model.
    recording : array of float, SpikeTrains or path, optional
        One recording holding both windows.
    unit : object, optional
        Unit id in a multi-unit ``SpikeTrains``, DICEstimate or NWB file; recorded as the
        result's ``unit_id`` (and the unit id of its estimates and populations), which
        :func:`~nwb_dicpop.write_neuromodulation` links to the Units table.
    n_models : int
        Members of the "before" population.
    max_subset_size : int
        Largest subset tried (1 or 2) when ``subsets`` is None.
    subsets : list of str or tuple, optional
        Candidate subsets (``"A+H"`` or ``("A", "H")``); default every subset up to
        ``max_subset_size`` of the model's conductances (leak excluded).
    validate : bool
        Simulate with Brian2: "before" members (those that reproduce the "before" train are
        the parents), and moves of the parents by every single conductance and the leading
        pairs; the score then includes how well the moved members' change of firing agrees
        with the recorded change.  Recommended for recorded trains: on trains of modulated
        neurons the inferred DICs alone rarely call a change (docs/neuromodulation.md).
        About 17 s per STG and 24 s per DA neuron on one core (docs/neuromodulation.md).
    n_simulated : int
        Moved members simulated per leading subset (``validate=True``); twice as many
        "before" members are simulated.
    modulation_limits : mapping of str to (float, float), optional
        Ratio limits ``g_after / g_before`` overriding the model's declared
        ``modulation_limits`` for some conductances.
    min_spikes : int
        Fewest spikes accepted in each train.
    rng : None, int or numpy.random.Generator
        Same seed, same result.

    Returns
    -------
    NeuromodulationResult

    Raises
    ------
    TypeError
        Inputs of the wrong kind (a window without ``recording``, a path as a train, ...).
    ValueError
        Overlapping windows or windows outside the recording, too few spikes, an unknown
        conductance in ``subsets`` (with a suggestion), ``max_subset_size`` beyond the
        model's conductances, estimates of different models, an unusable estimate.

    Notes
    -----
    The score of a subset ``S`` is ``log E(S) = log mean_m z_S(m) - SIZE_PENALTY (|S| - 1)``
    (+ ``log q(S)`` when validated), documented in ``docs/neuromodulation.md``.  The change is
    detectable when the best score beats "no change" by ``DETECTION_THRESHOLD``; subsets
    within ``TIE_MARGIN`` of a rank's leader, or pushing the DICs the same way as it, share
    its rank.

    Examples
    --------
    >>> import numpy as np, nwb_dicpop as ndp
    >>> before = np.arange(0, 3, 0.08)      # tonic, 12.5 Hz, seconds
    >>> after = np.arange(0, 3, 0.05)       # tonic, 20 Hz
    >>> result = ndp.analyze_neuromodulation(before, after, model="stg", n_models=50, rng=0)  # doctest: +SKIP
    >>> list(result.ranking.columns[:4])  # doctest: +SKIP
    ['subset', 'rank', 'cost', 'feasible_fraction']
    """
    spec = get_model(model)
    check_positive("n_models", n_models, integer=True)
    check_positive("n_simulated", n_simulated, integer=True)
    check_positive("min_spikes", min_spikes, integer=True)
    if not isinstance(validate, bool):
        msg = f"`validate` must be True or False; got {validate!r}."
        raise TypeError(msg)
    generator = normalize_rng(rng)
    candidates = candidate_subsets(spec, subsets, max_subset_size)
    limits = check_limits(spec, modulation_limits)
    train_b, train_a = resolve_trains(before, after, recording=recording, unit=unit, min_spikes=int(min_spikes))
    if validate and (train_b.estimate is not None or train_a.estimate is not None):
        msg = "`validate=True` needs spike trains for `before` and `after`, not DICEstimates; pass the trains."
        raise ValueError(msg)
    est_b, est_a = _estimates(spec, train_b, train_a)
    result = _Analysis(spec, candidates, limits, train_b, train_a, est_b, est_a, int(n_models), validate,
                       int(n_simulated), generator, seed_of(rng)).run()
    if unit is not None:  # estimates and populations are of the analysed unit (inferred ones are numbered 0, 1)
        result = dataclasses.replace(
            result, before=dataclasses.replace(result.before, unit_ids=(unit,)),
            after=dataclasses.replace(result.after, unit_ids=(unit,)),
            before_population=dataclasses.replace(result.before_population, unit_id=unit),
            moved={name: dataclasses.replace(pop, unit_id=unit) for name, pop in result.moved.items()},
        )
    return dataclasses.replace(result, unit_id=unit, before_window=_window_of(train_b), after_window=_window_of(train_a))


def _window_of(train: Train) -> tuple[float, float] | None:
    """``(t_start, t_stop)`` of a train in seconds; None for a given estimate."""
    return None if train.times is None else (float(train.t_start), float(train.t_stop))


def _estimates(spec: NeuronModel, train_b: Train, train_a: Train) -> tuple[DICEstimate, DICEstimate]:
    """Inferred (or given) one-unit estimates, checked to be usable and of ``spec``."""
    needed = [t for t in (train_b, train_a) if t.estimate is None]
    inferred: list[DICEstimate] = []
    if needed:
        from nwb_dicpop import infer_dics

        both = infer_dics([t.times for t in needed], model=spec.name)
        inferred = [_row(both, i) for i in range(len(needed))]
    out = []
    for train in (train_b, train_a):
        estimate = train.estimate if train.estimate is not None else inferred.pop(0)
        if estimate.model_name != spec.name:
            msg = (
                f"`{train.label}` is an estimate of model {estimate.model_name!r}, but model={spec.name!r} "
                "was passed; before and after must be of one model."
            )
            raise ValueError(msg)
        if estimate.status[0] != "ok" or not np.isfinite([estimate.g_s[0], estimate.g_u[0]]).all():
            msg = f"`{train.label}` gives no usable DIC estimate (status {estimate.status[0]!r}); use a longer train."
            raise ValueError(msg)
        out.append(estimate)
    return out[0], out[1]


def _row(estimate: DICEstimate, i: int) -> DICEstimate:
    from nwb_dicpop.neuromodulation._inputs import estimate_row

    return estimate_row(estimate, i)


# --------------------------------------------------------------------------- the analysis
class _Analysis:
    """State of one analysis (kept on an object to share it between the stages)."""

    def __init__(
        self, spec: NeuronModel, candidates: list[tuple[str, ...]], limits: dict[str, tuple[float, float]],
        train_b: Train, train_a: Train, est_b: DICEstimate, est_a: DICEstimate, n_models: int,
        validate: bool, n_simulated: int, rng: np.random.Generator, seed: int | None,
    ) -> None:
        self.spec, self.candidates, self.limits = spec, candidates, limits
        self.train_b, self.train_a, self.est_b, self.est_a = train_b, train_a, est_b, est_a
        self.n_models, self.validate, self.n_simulated = n_models, validate, n_simulated
        self.rng, self.seed = rng, seed
        self.notes: list[str] = []
        self.reproduced: dict[tuple[str, ...], float] = {}
        self.reproduced_none = float("nan")
        self.n_diverged = 0

    # ----------------------------------------------------------------------- stages
    def run(self) -> NeuromodulationResult:
        from nwb_dicpop import generate_population

        spec, est_b, est_a = self.spec, self.est_b, self.est_a
        population = generate_population(
            spec, float(est_b.g_s[0]), float(est_b.g_u[0]), n_models=self.n_models,
            g_s_std=float(est_b.g_s_std[0]), g_u_std=float(est_b.g_u_std[0]), thresholds=False,
            rng=self.rng,
        )
        start = np.array(population.conductances)
        self.likelihood = _likelihood(est_a)
        fits = {
            s: fit_subset(spec, start, s, self.likelihood, rng=self.rng, limits=self.limits, n_draws=N_PAIR_DRAWS)
            for s in self.candidates
        }
        size = {s: len(s) for s in self.candidates}
        dic = {s: log_mean_exp(f.log_evidence) - SIZE_PENALTY * (size[s] - 1) for s, f in fits.items()}
        dic_free = {s: log_mean_exp(f.log_evidence_free) - SIZE_PENALTY * (size[s] - 1) for s, f in fits.items()}
        dic_none = log_mean_exp(fit_no_change(spec, start, self.likelihood))
        stderr = {s: log_mean_stderr(f.log_evidence) for s, f in fits.items()}
        score, q, n_sim = dict(dic), {}, {}
        score_none, q_none = dic_none, np.nan
        if self.validate:
            q, n_sim, q_none = self._simulate(start, fits, dic)
            for s in q:
                score[s] = dic[s] + np.log(q[s])
            score_none = dic_none + np.log(q_none)
        ranking = self._ranking(fits, score, dic, dic_free, stderr, q, n_sim, score_none, start)
        changed, detectable, reason = self._detectability(ranking, score_none, dic_none)
        if not detectable:  # no ranking: every rank is <NA>
            import pandas as pd

            ranking["rank"] = pd.array([pd.NA] * len(ranking), dtype="Int64")
        moved = self._moved(ranking, fits, start, population, detectable)
        stats_b = _statistics(self.train_b)
        stats_a = _statistics(self.train_a)
        return NeuromodulationResult(
            model_name=spec.name,
            ranking=ranking,
            detectable=detectable,
            reason=reason,
            change_detected=changed,
            before=est_b,
            after=est_a,
            before_statistics=stats_b,
            after_statistics=stats_a,
            before_population=population,
            moved=moved,
            no_change={
                "log_evidence": float(score_none),
                "log_evidence_dic": float(dic_none),
                "agreement": float(q_none) if self.validate else float("nan"),
                "reproduced_fraction": self.reproduced_none,
            },
            bound_notes=tuple(self.notes),
            settings=self._settings(),
        )

    def _simulate(
        self, start: np.ndarray, fits: dict[tuple[str, ...], SubsetFit], dic: dict[tuple[str, ...], float]
    ) -> tuple[dict[tuple[str, ...], float], dict[tuple[str, ...], int], float]:
        """Brian2 stage: pair the recordings through simulated members.

        1. ``2 n_simulated`` "before" members are simulated; those that reproduce the "before"
           train are the *parents* (pairing: the neuron is one of them).
        2. Every single conductance and the ``N_SIMULATED_PAIRS`` pairs with the best DIC
           evidence move ``n_simulated`` parents each (parents drawn by their DIC evidence,
           moves from their posterior); then the pairs that add one conductance to the best
           single.  Each moved member scores :func:`paired_agreement` with the recorded change.
        3. ``q(S) = (sum of agreements + 1/2) / (moves + 1)``; "no change" scores the parents
           themselves.
        """
        from nwb_dicpop.neuromodulation._simulate import ObservedTrain, paired_agreement, reproduces

        spec = self.spec
        observed_b = ObservedTrain(self.train_b.times, self.train_b.t_start, self.train_b.t_stop)  # type: ignore[arg-type]
        observed_a = ObservedTrain(self.train_a.times, self.train_a.t_start, self.train_a.t_stop)  # type: ignore[arg-type]
        self._sim_window = float(np.clip(max(observed_b.duration, observed_a.duration), 1.0, MAX_SIMULATED_WINDOW))
        self._sim_transient = float(spec.training.transient) if spec.training is not None else 2.0
        n_before = min(start.shape[0], 2 * self.n_simulated)
        before_stats = self._run(start[:n_before])
        parents = np.flatnonzero(reproduces(before_stats, observed_b))
        if parents.size < 3:
            same = np.flatnonzero(before_stats["firing_class"].to_numpy() == observed_b.firing_class)
            kind = "of the 'before' class" if same.size >= 3 else "simulated"
            parents = same if same.size >= 3 else np.arange(n_before)
            self.notes.append(
                f"Only {int(np.count_nonzero(reproduces(before_stats, observed_b)))} of {n_before} simulated "
                f"'before' members reproduce the 'before' train; moves start from the {parents.size} members {kind}."
            )
        self.simulated_before = (n_before, int(parents.size))
        agreement_none = paired_agreement(before_stats.iloc[parents], before_stats.iloc[parents], observed_b, observed_a)
        q_none = (float(np.sum(agreement_none)) + 0.5) / (parents.size + 1)
        q: dict[tuple[str, ...], float] = {}
        n_sim: dict[tuple[str, ...], int] = {}
        self.reproduced_none = float(np.mean(reproduces(before_stats.iloc[parents], observed_a)))

        def simulate(subsets: list[tuple[str, ...]]) -> None:
            batches, owners, parent_rows = [], [], []
            for subset in subsets:
                fit = fits[subset]
                log_w = fit.log_evidence[parents]
                # no feasible move from any parent: as if every move disagreed
                q[subset], n_sim[subset] = 0.5 / (self.n_simulated + 1), 0
                if not np.isfinite(np.max(log_w)):
                    continue
                w = np.exp(log_w - np.max(log_w))
                chosen = self.rng.choice(parents.size, size=self.n_simulated, p=w / w.sum())
                moved, ok = sample_moves(fit, start, parents[chosen], self.rng)
                batches.append(moved[ok])
                owners.extend([subset] * int(ok.sum()))
                parent_rows.extend(parents[chosen][ok].tolist())
            if not batches:
                return
            stats = self._run(np.concatenate(batches))
            agreement = paired_agreement(before_stats.iloc[parent_rows], stats, observed_b, observed_a)
            hits = reproduces(stats, observed_a)
            owner = np.array([subset_name(s) for s in owners])
            for subset in subsets:
                mask = owner == subset_name(subset)
                n_sim[subset] = int(mask.sum())
                # infeasible moves count as moves that disagree
                q[subset] = (float(np.sum(agreement[mask])) + 0.5) / (self.n_simulated + 1)
                self.reproduced[subset] = float(np.mean(hits[mask])) if mask.any() else np.nan

        singles = [s for s in self.candidates if len(s) == 1]
        pairs = sorted((s for s in self.candidates if len(s) == 2), key=lambda s: -dic[s])
        simulate(singles + pairs[:N_SIMULATED_PAIRS])
        if singles:  # extend the leading singles (by score, and by agreement) to pairs
            leading = sorted(singles, key=lambda s: -(dic[s] + np.log(q[s])))[:2]
            leading.append(max(singles, key=lambda s: q[s]))
            names = {s[0] for s in leading}
            extra = [s for s in pairs if names & set(s) and s not in q][:N_EXTENSION_PAIRS]
            if extra:
                simulate(extra)
        if self.n_diverged:
            self.notes.append(
                f"{self.n_diverged} simulated members diverged numerically (extreme conductances); they count "
                "as members that do not fire like the recording."
            )
        return q, n_sim, float(q_none)

    def _run(self, conductances: np.ndarray) -> Any:
        """Statistics of simulated members; a member whose state diverged gets the firing class
        "diverged", which agrees with nothing."""
        from nwb_dicpop.neuromodulation._simulate import simulate_recorded
        from nwb_dicpop.statistics import compute_spike_statistics

        result, diverged = simulate_recorded(
            self.spec, conductances, recorded=self._sim_window, transient=self._sim_transient
        )
        stats = compute_spike_statistics(result)
        if diverged.any():
            stats["firing_class"] = np.where(diverged, "diverged", stats["firing_class"].to_numpy(dtype=object))
            self.n_diverged += int(diverged.sum())
        return stats

    def _ranking(
        self, fits: dict[tuple[str, ...], SubsetFit], score: dict[tuple[str, ...], float],
        dic: dict[tuple[str, ...], float], dic_free: dict[tuple[str, ...], float],
        stderr: dict[tuple[str, ...], float], q: dict[tuple[str, ...], float],
        n_sim: dict[tuple[str, ...], int], score_none: float, start: np.ndarray,
    ) -> pd.DataFrame:
        import pandas as pd

        simulated = [s for s in self.candidates if s in q]
        rest = [s for s in self.candidates if s not in q]
        order = sorted(simulated, key=lambda s: -score[s]) + sorted(rest, key=lambda s: -score[s])
        equivalent = equivalence(self.spec, start, self.likelihood, self.limits)
        order, ranks, reasons = tie_ranks(order, score, stderr, equivalent, len(simulated))
        rows = []
        for s in order:
            fit = fits[s]
            weights = np.exp(fit.log_evidence - np.max(fit.log_evidence)) if np.isfinite(np.max(fit.log_evidence)) else None
            cost = np.nan
            if weights is not None:
                good = np.isfinite(fit.cost) & (weights > 0)
                if good.any():
                    cost = float(np.sum(weights[good] * fit.cost[good]) / np.sum(weights[good]))
            rows.append({
                "subset": subset_name(s),
                "rank": ranks[s],
                "cost": cost,
                "feasible_fraction": float(np.mean(fit.feasible)),
                "size": len(s),
                "log_evidence": float(score[s]),
                "log_evidence_dic": float(dic[s]),
                "log_bayes_factor": float(score[s] - score_none),
                "agreement": float(q[s]) if s in q else np.nan,
                "reproduced_fraction": self.reproduced.get(s, np.nan),
                "n_simulated": int(n_sim.get(s, 0)),
                "bound_limited_fraction": float(np.mean(fit.bound_limited)),
                "bound_decides": False,
                "tie_reason": reasons[s],
            })
        frame = pd.DataFrame(rows)
        frame["rank"] = frame["rank"].astype("Int64")
        self._bound_notes(frame, dic, dic_free)
        return frame

    def _bound_notes(
        self, frame: pd.DataFrame, dic: dict[tuple[str, ...], float], dic_free: dict[tuple[str, ...], float]
    ) -> None:
        best_bounded = max(dic, key=lambda s: dic[s])
        best_free = max(dic_free, key=lambda s: dic_free[s])
        by_name = {subset_name(s): s for s in dic}
        for i, name in enumerate(frame["subset"]):
            s = by_name[name]
            gain = dic_free[s] - dic[s]
            limited = frame.at[i, "bound_limited_fraction"]
            decides = (gain > TIE_MARGIN and limited >= 0.25) or (s == best_free and s != best_bounded)
            frame.at[i, "bound_decides"] = bool(decides)
            if decides:
                ranges = ", ".join(f"{c} {self.limits[c][0]:g}-{self.limits[c][1]:g}x" for c in s)
                self.notes.append(
                    f"{name}: the modulation limits ({ranges}) exclude moves for "
                    f"{100 * limited:.0f}% of the reachable cases; without them its DIC evidence "
                    f"would rise by {gain:.1f}" + (" and it would lead the ranking." if s == best_free and s != best_bounded else ".")
                )

    def _detectability(self, ranking: pd.DataFrame, score_none: float, dic_none: float) -> tuple[bool, bool, str]:
        """(change detected, change attributable, reason)."""
        best = ranking.iloc[0]
        factor = float(best["log_evidence"] - score_none)
        shift = np.array([self.est_a.g_s[0] - self.est_b.g_s[0], self.est_a.g_u[0] - self.est_b.g_u[0]])
        std = np.hypot([self.est_a.g_s_std[0], self.est_a.g_u_std[0]], [self.est_b.g_s_std[0], self.est_b.g_u_std[0]])
        numbers = (
            f"inferred (g_s, g_u) {self.est_b.g_s[0]:.2f}, {self.est_b.g_u[0]:.2f} -> {self.est_a.g_s[0]:.2f}, "
            f"{self.est_a.g_u[0]:.2f} (shift {shift[0]:+.2f} +- {std[0]:.2f}, {shift[1]:+.2f} +- {std[1]:.2f}); "
            f"log Bayes factor of {best['subset']} against no change {factor:.2f} (threshold {DETECTION_THRESHOLD:g})"
        )
        if self.validate:
            numbers += (f"; unmodulated 'before' members agree with the recorded change of firing at "
                        f"{np.exp(score_none - dic_none):.2f}")
        if factor < DETECTION_THRESHOLD:
            return False, False, "no detectable DIC change: " + numbers
        first = list(ranking.loc[ranking["rank"] == 1, "subset"])
        if len(first) > MAX_FIRST_RANK:
            return True, False, (
                f"a change is detected but not attributable: {len(first)} subsets ({', '.join(first)}) "
                f"explain it equally well (at most {MAX_FIRST_RANK} may share the first rank); " + numbers
            )
        return True, True, "detectable DIC change: " + numbers

    def _moved(
        self, ranking: pd.DataFrame, fits: dict[tuple[str, ...], SubsetFit], start: np.ndarray,
        population: Population, detectable: bool,
    ) -> dict[str, Population]:
        names = list(ranking.loc[ranking["rank"] == 1, "subset"]) if detectable else []
        if len(names) < 2:
            names = list(ranking["subset"].iloc[:2])
        by_name = {subset_name(s): s for s in fits}
        out = {}
        kernel = kernel_for(self.spec)
        from nwb_dicpop._solver import dics_at

        for name in names:
            fit = fits[by_name[name]]
            moved, ok = sample_moves(fit, start, np.arange(start.shape[0]), self.rng)
            if not ok.any():
                continue
            g = moved[ok]
            dics = dics_at(kernel, g, self.spec.threshold)
            mean = np.array([self.est_a.g_s[0], self.est_a.g_u[0]])
            out[name] = Population(
                model_name=self.spec.name,
                conductance_names=self.spec.conductance_names,
                conductances=g,
                dics=dics,
                threshold=np.full(g.shape[0], np.nan),
                reference_threshold=self.spec.threshold,
                targets=np.broadcast_to(mean, (g.shape[0], 2)),
                target_mean=mean,
                target_std=np.array([self.est_a.g_s_std[0], self.est_a.g_u_std[0]]),
                compensating_set=by_name[name],
                residual=np.linalg.norm(dics[:, 1:] - mean, axis=1),
                seed=self.seed,
                unit_id=population.unit_id,
            )
        return out

    def _settings(self) -> dict[str, Any]:
        return {
            "n_models": self.n_models,
            "candidates": [subset_name(s) for s in self.candidates],
            "modulation_limits": {k: list(v) for k, v in self.limits.items()},
            "validate": self.validate,
            "n_simulated": self.n_simulated,
            "seed": self.seed,
            "laplace_scale": LAPLACE_SCALE,
            "size_penalty": SIZE_PENALTY,
            "likelihood_scale": LIKELIHOOD_SCALE,
            "likelihood_degrees": LIKELIHOOD_DEGREES,
            "likelihood_rows": [("g_f", "g_s", "g_u")[r] for r in self.likelihood.rows],
            "tie_margin": TIE_MARGIN,
            "equivalent_margin": EQUIVALENT_MARGIN,
            "equivalent_cosine": EQUIVALENT_COSINE,
            "detection_threshold": DETECTION_THRESHOLD,
            "max_first_rank": MAX_FIRST_RANK,
            "simulated_before": list(getattr(self, "simulated_before", ())),
        }


# --------------------------------------------------------------------------- helpers
def _likelihood(estimate: DICEstimate) -> DICLikelihood:
    rows: tuple[int, ...] = (1, 2)
    mean = [estimate.g_s[0], estimate.g_u[0]]
    std = [estimate.g_s_std[0], estimate.g_u_std[0]]
    if np.isfinite(estimate.g_f[0]):
        rows, mean, std = (0, 1, 2), [estimate.g_f[0], *mean], [G_F_STD, *std]
    std = [max(float(s), 1e-3) for s in std]
    return DICLikelihood(rows, np.array(mean, dtype=float), np.array(std), LIKELIHOOD_SCALE, LIKELIHOOD_DEGREES)


def _statistics(train: Train) -> dict[str, Any]:
    if train.times is None:
        return {}
    from nwb_dicpop.neuromodulation._simulate import ObservedTrain

    return ObservedTrain(train.times, train.t_start, train.t_stop).summary()
