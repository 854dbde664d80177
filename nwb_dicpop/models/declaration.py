"""Declarative description of a conductance-based neuron model.

A model is written down once, as data: its ionic currents, their gating variables (steady
state and time constant as expression strings in the membrane voltage ``V`` in mV), the
calcium dynamics if any, the reference time constants that split feedback into fast, slow and
ultraslow bands, and the recipe of its degenerate spiking base population.  Everything else in
the package derives from this declaration: the dynamic input conductances (DICs), the
compensation algorithm and the Brian2 equations.

Expressions are plain Python/sympy syntax.  Allowed names are ``V`` (membrane voltage, mV), the
calcium concentration name of :class:`CalciumDynamics` (e.g. ``Ca``), the model's named
``definitions`` (sub-expressions such as rate functions) and, inside a Markov scheme, its state
names.  Functions: ``exp``, ``log``, ``sqrt``, ``tanh``.  Time constants are in ms.

Units (fixed for every model): voltage mV, time ms, maximal conductances mS/cm^2, currents
uA/cm^2, capacitance 1 uF/cm^2 (so ``dV/dt = -sum(I)`` in mV/ms).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property

__all__ = [
    "DEFAULT_MODULATION_LIMITS",
    "CalciumDynamics",
    "Current",
    "EvaluationSettings",
    "Gate",
    "MarkovScheme",
    "NeuronModel",
    "SimulationSettings",
    "SpikingBaseRecipe",
    "TrainingProtocol",
]

TIMESCALES = ("fast", "slow", "ultraslow")
DEFAULT_MODULATION_LIMITS = (0.01, 100.0)
"""Ratio bounds ``g_after / g_before`` of conductances a model's ``modulation_limits`` omits."""
_IDENTIFIER = re.compile(r"^[A-Za-z][A-Za-z0-9]*$")


def _check_identifier(kind: str, name: str) -> None:
    if not _IDENTIFIER.match(name):
        msg = (
            f"{kind} name {name!r} is not allowed; use letters and digits only, starting with "
            "a letter (names become variable names in the generated equations)."
        )
        raise ValueError(msg)


@dataclass(frozen=True)
class MarkovScheme:
    """Kinetics of a gate described by a Markov scheme instead of ``(x_inf, tau)``.

    Parameters
    ----------
    derivatives : mapping of str to str
        Time derivative (per ms) of each state of the scheme, as an expression.  The first
        key is the conducting state and must equal the gate's name.
    initial : mapping of str to str
        Initial value of each state, as an expression of ``V`` (evaluated at the initial
        voltage).
    """

    derivatives: Mapping[str, str]
    initial: Mapping[str, str]

    def __post_init__(self) -> None:
        if not self.derivatives:
            msg = "MarkovScheme.derivatives is empty; give one ODE per state of the scheme."
            raise ValueError(msg)
        missing = set(self.derivatives) - set(self.initial)
        if missing:
            msg = f"MarkovScheme.initial lacks a value for states {sorted(missing)}."
            raise ValueError(msg)
        for state in self.derivatives:
            _check_identifier("Markov state", state)

    @property
    def states(self) -> tuple[str, ...]:
        """Names of the scheme's states, conducting state first."""
        return tuple(self.derivatives)


@dataclass(frozen=True)
class Gate:
    """One gating variable of a current.

    Parameters
    ----------
    name : str
        Short name, unique within its current (``"m"``, ``"h"``).
    steady_state : str
        Steady-state value ``x_inf`` as an expression of ``V`` (and of the calcium
        concentration for calcium-gated channels).
    time_constant : str or None
        Time constant ``tau_x`` in ms as an expression of ``V``.  ``None`` means an
        instantaneous gate (``x = x_inf`` at all times, e.g. the NMDA magnesium block) or a
        gate whose kinetics is a :class:`MarkovScheme`.
    exponent : int
        Power of the gate in the current (``m**3 h`` has exponents 3 and 1).
    timescale : {"fast", "slow", "ultraslow"} or None
        Forces the DIC band of this gate's feedback instead of deriving it from
        ``time_constant`` (used for the DA ERG channel, entirely ultraslow).
    markov : MarkovScheme or None
        Kinetics of a multi-state gate; ``steady_state`` must then be the scheme's steady
        state of the conducting state.
    """

    name: str
    steady_state: str
    time_constant: str | None = None
    exponent: int = 1
    timescale: str | None = None
    markov: MarkovScheme | None = None

    def __post_init__(self) -> None:
        _check_identifier("Gate", self.name)
        if not isinstance(self.exponent, int) or self.exponent < 1:
            msg = f"Gate {self.name!r}: exponent must be a positive integer; got {self.exponent!r}."
            raise ValueError(msg)
        if self.timescale is not None and self.timescale not in TIMESCALES:
            msg = (
                f"Gate {self.name!r}: timescale must be one of {TIMESCALES} or None; "
                f"got {self.timescale!r}."
            )
            raise ValueError(msg)
        if self.markov is not None:
            if self.time_constant is not None:
                msg = f"Gate {self.name!r}: give either time_constant or markov, not both."
                raise ValueError(msg)
            if self.markov.states[0] != self.name:
                msg = (
                    f"Gate {self.name!r}: the first state of its Markov scheme must be the "
                    f"conducting state {self.name!r}; got {self.markov.states[0]!r}."
                )
                raise ValueError(msg)
            if self.timescale is None:
                msg = f"Gate {self.name!r}: a Markov gate needs an explicit timescale for the DICs."
                raise ValueError(msg)

    @property
    def is_instantaneous(self) -> bool:
        """True for a gate with no state variable (``x = x_inf(V)``)."""
        return self.time_constant is None and self.markov is None


@dataclass(frozen=True)
class Current:
    """An ionic current ``I = gbar * prod(x_k ** p_k) * (V - E)``.

    Parameters
    ----------
    name : str
        Name of the current; its maximal conductance is called the same (``"Na"``).
    reversal : float
        Reversal potential ``E`` in mV.
    gates : tuple of Gate
        Gating variables; empty for an ohmic current such as the leak.
    description : str
        Free text for documentation.
    """

    name: str
    reversal: float
    gates: tuple[Gate, ...] = ()
    description: str = ""

    def __post_init__(self) -> None:
        _check_identifier("Current", self.name)
        names = [gate.name for gate in self.gates]
        if len(set(names)) != len(names):
            msg = f"Current {self.name!r} has duplicate gate names {names}."
            raise ValueError(msg)


@dataclass(frozen=True)
class CalciumDynamics:
    """Intracellular calcium: ``tau dCa/dt = -alpha * sum(I_Ca) - Ca + beta``.

    Parameters
    ----------
    currents : tuple of str
        Names of the calcium currents feeding the pool.
    alpha, beta : float
        Influx factor and resting level (model units).
    time_constant : float
        ``tau`` in ms.  Also the time constant used to weight the calcium path of the DICs
        (see ``NeuronModel.calcium_dic_convention``).
    initial : float
        Initial concentration.
    name : str
        Name of the concentration in expressions.
    """

    currents: tuple[str, ...]
    alpha: float
    beta: float
    time_constant: float
    initial: float
    name: str = "Ca"

    def __post_init__(self) -> None:
        _check_identifier("Calcium", self.name)
        if self.time_constant <= 0:
            msg = f"CalciumDynamics.time_constant must be positive ms; got {self.time_constant}."
            raise ValueError(msg)


@dataclass(frozen=True)
class SpikingBaseRecipe:
    """How to draw the degenerate *spiking* base population of a model (step 1).

    ``g_leak`` is drawn from a Gamma distribution with the mean and standard deviation of the
    uniform law on ``leak_limits``; every conductance of ``sampled`` is drawn uniformly and
    multiplied by ``g_leak / mean(g_leak)``, as is every value of ``fixed``; the
    ``compensating`` conductances are then solved so that the DICs at threshold equal
    ``(g_f, g_s, g_u)`` with ``g_f = g_f_slope * g_s + g_f_intercept``.
    """

    leak_limits: tuple[float, float]
    sampled: Mapping[str, tuple[float, float]]
    compensating: tuple[str, ...]
    g_s: float
    g_u: float
    g_f_slope: float
    g_f_intercept: float
    fixed: Mapping[str, float] = field(default_factory=dict)

    @property
    def g_f(self) -> float:
        """Fast DIC target of the base population."""
        return self.g_f_slope * self.g_s + self.g_f_intercept


def _check_range(owner: str, name: str, value: tuple[float, float]) -> None:
    low, high = value
    if not low < high:
        msg = f"{owner}.{name} must be an increasing (low, high) pair; got {value!r}."
        raise ValueError(msg)


def _check_modulation_limits(model: str, name: str, value: object, names: list[str]) -> None:
    if name not in names:
        msg = f"Model {model!r}: modulation_limits names unknown conductance {name!r}; conductances are {names}."
        raise ValueError(msg)
    ok = isinstance(value, tuple) and len(value) == 2 and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) for v in value
    )
    if not ok or not 0 < value[0] <= 1 <= value[1] < float("inf"):  # type: ignore[index]
        msg = (
            f"Model {model!r}: modulation_limits[{name!r}] must be a (low, high) pair of ratios "
            f"g_after/g_before with 0 < low <= 1 <= high < inf; got {value!r}."
        )
        raise ValueError(msg)


def _check_seconds(owner: str, name: str, value: float, *, allow_zero: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (
        value >= 0 if allow_zero else value > 0
    ):
        bound = ">= 0" if allow_zero else "> 0"
        msg = f"{owner}.{name} must be a number of seconds {bound}; got {value!r}."
        raise ValueError(msg)


@dataclass(frozen=True)
class SimulationSettings:
    """How a model is integrated by the Brian2 simulator.

    Parameters
    ----------
    method : str
        Default integration method (``"rush_larsen2"``, ``"rush_larsen"``, ``"rk4"``, or one of
        Brian2's ``"exponential_euler"``, ``"rk2"``, ``"euler"``).
    dt : float
        Default integration step in seconds.
    noise_dt : float
        Step in seconds of the grid on which injected current noise is drawn.
    """

    method: str = "rush_larsen2"
    dt: float = 2.5e-5
    noise_dt: float = 1e-4

    def __post_init__(self) -> None:
        _check_seconds("SimulationSettings", "dt", self.dt)
        _check_seconds("SimulationSettings", "noise_dt", self.noise_dt)


@dataclass(frozen=True)
class TrainingProtocol:
    """How the training data of a model's DIC network are generated.

    Parameters
    ----------
    g_s_range, g_u_range : (float, float)
        Box of the ``(g_s, g_u)`` targets (dimensionless DICs at the model's threshold).
    duration : float
        Recorded window of every simulated train, in seconds (after the transient).
    transient : float
        Simulated time discarded before the recorded window, in seconds.
    fallback_compensating_set : str or None
        Compensating set tried when the model's ``compensation_rule`` cannot reach a target
        (``"auto"``: every pair is tried); ``None`` skips such targets at once.
    """

    g_s_range: tuple[float, float]
    g_u_range: tuple[float, float]
    duration: float
    transient: float
    fallback_compensating_set: str | None = "auto"

    def __post_init__(self) -> None:
        _check_range("TrainingProtocol", "g_s_range", self.g_s_range)
        _check_range("TrainingProtocol", "g_u_range", self.g_u_range)
        _check_seconds("TrainingProtocol", "duration", self.duration)
        _check_seconds("TrainingProtocol", "transient", self.transient, allow_zero=True)

    @property
    def target_box(self) -> tuple[tuple[float, float], tuple[float, float]]:
        """``((g_s_min, g_s_max), (g_u_min, g_u_max))``."""
        return (tuple(self.g_s_range), tuple(self.g_u_range))  # type: ignore[return-value]


@dataclass(frozen=True)
class EvaluationSettings:
    """Targets and reference figures used to judge a model's network, and its demo units.

    Parameters
    ----------
    accuracy_targets : mapping of str to float
        Goals for the network's test metrics (``"mae_g_s"``, ``"mae_g_u"``,
        ``"class_accuracy"``), shown in the model card.
    reference_metrics : mapping of str to float
        Test metrics of the original study's network, shown beside ours in the model card.
    demo_targets : tuple of (float, float)
        ``(g_s, g_u)`` of the units simulated by ``nwb-dicpop demo``.
    """

    accuracy_targets: Mapping[str, float] = field(default_factory=dict)
    reference_metrics: Mapping[str, float] = field(default_factory=dict)
    demo_targets: tuple[tuple[float, float], ...] = ()


CompensationRule = Callable[[float, float], tuple[str, str]]


@dataclass(frozen=True, eq=False)  # identity semantics: a declaration is hashable and cacheable
class NeuronModel:
    """A conductance-based model, declared once.

    Parameters
    ----------
    name : str
        Registry name (``"stg"``).
    description : str
        One-line description with the source of the kinetics.
    currents : tuple of Current
        All currents, leak included.  Their order is the conductance order everywhere.
    leak : str
        Name of the leak current (DICs are normalised by its conductance).
    threshold : float
        The fixed threshold voltage ``V_th`` (mV) at which DICs are inferred and targeted.
    reference_timescales : tuple of (str or float), length 3
        Fast, slow and ultraslow reference time constants: either ``"Current.gate"`` (use
        that gate's time constant) or a constant in ms.
    initial_voltage : float
        ``V`` at t = 0 (mV); gates start at their steady state unless a Markov scheme says
        otherwise.
    voltage_limits : tuple of float
        Range (mV) where the model is meaningful; ``find_threshold`` scans it.
    conductance_limits : mapping of str to (float, float)
        Plausible range of each maximal conductance (mS/cm^2); population members outside
        it are redrawn.
    calcium : CalciumDynamics or None
    definitions : mapping of str to str
        Named sub-expressions usable in any expression (rate functions, blocks).
    spiking_base : SpikingBaseRecipe
    compensation_rule : callable
        ``rule(g_s, g_u) -> (name, name)``: the published choice of the two conductances
        re-solved when neuromodulating a base population to ``(g_s, g_u)``.
    calcium_dic_convention : {"time_constant", "ultraslow"}
        How the calcium path of calcium-gated channels enters the DICs: weighted by the
        calcium time constant on the log scale (Brandoit et al., the default), or entirely
        ultraslow (Fyon et al. 2024).
    simulation : SimulationSettings
        Default integration method, step and noise grid of the simulator.
    training : TrainingProtocol or None
        How training data for this model's DIC network are generated; ``None`` when the
        model has no network protocol yet (``make_training_data`` then asks for one).
    evaluation : EvaluationSettings
        Accuracy targets, reference figures and demo units.
    modulation_limits : mapping of str to (float, float)
        Physiological bounds of a neuromodulation, per maximal conductance: the smallest and
        largest accepted ratio ``g_after / g_before`` (``low <= 1 <= high``), used by the
        neuromodulation analysis (:func:`~nwb_dicpop.analyze_neuromodulation`).  Conductances
        not listed get :data:`DEFAULT_MODULATION_LIMITS`; the leak is never modulated there.
    """

    name: str
    description: str
    currents: tuple[Current, ...]
    leak: str
    threshold: float
    reference_timescales: tuple[str | float, str | float, str | float]
    initial_voltage: float
    voltage_limits: tuple[float, float]
    conductance_limits: Mapping[str, tuple[float, float]]
    spiking_base: SpikingBaseRecipe
    compensation_rule: CompensationRule
    calcium: CalciumDynamics | None = None
    definitions: Mapping[str, str] = field(default_factory=dict)
    calcium_dic_convention: str = "time_constant"
    simulation: SimulationSettings = field(default_factory=SimulationSettings)
    training: TrainingProtocol | None = None
    evaluation: EvaluationSettings = field(default_factory=EvaluationSettings)
    modulation_limits: Mapping[str, tuple[float, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [current.name for current in self.currents]
        if len(set(names)) != len(names):
            msg = f"Model {self.name!r} has duplicate current names {names}."
            raise ValueError(msg)
        if self.leak not in names:
            msg = f"Model {self.name!r}: leak current {self.leak!r} is not among {names}."
            raise ValueError(msg)
        if self.calcium_dic_convention not in ("time_constant", "ultraslow"):
            msg = (
                "calcium_dic_convention must be 'time_constant' or 'ultraslow'; "
                f"got {self.calcium_dic_convention!r}."
            )
            raise ValueError(msg)
        if len(self.reference_timescales) != 3:
            msg = "reference_timescales needs three entries: fast, slow, ultraslow."
            raise ValueError(msg)
        for ref in self.reference_timescales:
            if isinstance(ref, str):
                self.gate(ref)  # raises on unknown gates
        if self.calcium is not None:
            for cname in self.calcium.currents:
                if cname not in names:
                    msg = f"Calcium current {cname!r} is not a current of model {self.name!r}."
                    raise ValueError(msg)
        missing = set(names) - set(self.conductance_limits)
        if missing:
            msg = f"Model {self.name!r}: conductance_limits lacks {sorted(missing)}."
            raise ValueError(msg)
        for cname, value in self.modulation_limits.items():
            _check_modulation_limits(self.name, cname, value, names)
        recipe = self.spiking_base
        for cname in (*recipe.sampled, *recipe.compensating, *recipe.fixed):
            if cname not in names:
                msg = f"Spiking-base recipe of {self.name!r} names unknown conductance {cname!r}."
                raise ValueError(msg)

    @cached_property
    def conductance_names(self) -> tuple[str, ...]:
        """Names of the maximal conductances, in the model's canonical order."""
        return tuple(current.name for current in self.currents)

    @property
    def n_conductances(self) -> int:
        """Number of maximal conductances (leak included)."""
        return len(self.currents)

    def index(self, name: str) -> int:
        """Position of conductance ``name``; unknown names raise with a suggestion."""
        from nwb_dicpop._validation import check_choice

        check_choice("conductance name", name, self.conductance_names)
        return self.conductance_names.index(name)

    def modulation_limit(self, name: str) -> tuple[float, float]:
        """Accepted ``(low, high)`` ratio ``g_after / g_before`` of conductance ``name``.

        The declared :attr:`modulation_limits` entry, else :data:`DEFAULT_MODULATION_LIMITS`.
        """
        self.index(name)  # raises on unknown names, with a suggestion
        low, high = self.modulation_limits.get(name, DEFAULT_MODULATION_LIMITS)
        return float(low), float(high)

    def current(self, name: str) -> Current:
        """The current called ``name``."""
        return self.currents[self.index(name)]

    def gate(self, reference: str) -> Gate:
        """The gate ``"Current.gate"`` (e.g. ``"Na.m"``)."""
        current_name, _, gate_name = reference.partition(".")
        current = self.current(current_name)
        for gate in current.gates:
            if gate.name == gate_name:
                return gate
        msg = (
            f"Model {self.name!r}: current {current_name!r} has no gate {gate_name!r}; "
            f"its gates are {[g.name for g in current.gates]}."
        )
        raise ValueError(msg)
