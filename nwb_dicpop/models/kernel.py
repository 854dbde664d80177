"""Numeric kernels derived from a model declaration: steady states, exact derivatives, DIC
sensitivities.

:func:`kernel_for` compiles a :class:`~nwb_dicpop.models.declaration.NeuronModel` once (sympy
differentiation, then ``lambdify`` to numpy) and caches the result.  The DIC sensitivity of a
current ``I_j = g_j prod_k x_k^p_k (V - E_j)`` per unit conductance is

``S_f = prod_k x_k,inf^p_k + sum_k w_fs,k D_jk``, ``S_s = sum_k (w_su,k - w_fs,k) D_jk``,
``S_u = sum_k (1 - w_su,k) D_jk``, with ``D_jk = d(prod x^p)/dx_k * (V - E_j) * dx_k,inf/dV``

(Drion et al. 2015; ``docs/method.md``).  Calcium-gated gates get a second term through
``dCa_inf/dV``, weighted by the calcium time constant or put entirely in the ultraslow band
(``NeuronModel.calcium_dic_convention``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np

from nwb_dicpop.models.declaration import NeuronModel
from nwb_dicpop.models.expressions import VOLTAGE, parse_expression, sympy_module

__all__ = ["GateKernel", "ModelKernel", "VoltageSlice", "kernel_for", "log_weight"]

_FORCED_WEIGHTS = {"fast": (1.0, 1.0), "slow": (0.0, 1.0), "ultraslow": (0.0, 0.0)}

NumericFunction = Callable[[Any, Any], np.ndarray]


def log_weight(tau: Any, tau_low: Any, tau_high: Any) -> np.ndarray:
    """Log-linear weight: 1 for ``tau <= tau_low``, 0 for ``tau >= tau_high``, linear in log between."""
    tau, tau_low, tau_high = np.log(tau), np.log(tau_low), np.log(tau_high)
    return np.clip((tau_high - tau) / (tau_high - tau_low), 0.0, 1.0)


def _lambdify(expr: Any, symbols: tuple[Any, Any]) -> NumericFunction:
    sp = sympy_module()
    func = sp.lambdify(symbols, expr, modules="numpy")
    constant = not (expr.free_symbols & set(symbols))

    def evaluate(voltage: Any, calcium: Any) -> np.ndarray:
        value = func(voltage, calcium)
        if constant:
            shape = np.broadcast_shapes(np.shape(voltage), np.shape(calcium))
            return np.full(shape, float(value))
        return np.asarray(value, dtype=np.float64)

    return evaluate


@dataclass(frozen=True)
class GateKernel:
    """Compiled functions of one gate; every function takes ``(V, Ca)`` (Ca ignored if unused)."""

    current_index: int
    name: str
    exponent: int
    steady_state: NumericFunction
    d_steady_state_dv: NumericFunction
    d_steady_state_dca: NumericFunction | None
    time_constant: NumericFunction | None
    forced_weights: tuple[float, float] | None

    @property
    def calcium_dependent(self) -> bool:
        """True when the steady state depends on the calcium concentration."""
        return self.d_steady_state_dca is not None


class ModelKernel:
    """All numeric functions of one model.  Build with :func:`kernel_for`.

    ``streamlined=False`` makes :attr:`VoltageSlice.functions` the plain ``sympy.lambdify``
    functions instead of the generated streamlined ones: the same results, bit for bit, more
    slowly (the reference the streamlined path is tested against).
    """

    def __init__(self, model: NeuronModel, *, streamlined: bool = True) -> None:
        sp = sympy_module()
        self.model = model
        self.streamlined = streamlined
        v = sp.Symbol(VOLTAGE, real=True)
        ca_name = model.calcium.name if model.calcium is not None else "_Ca"
        ca = sp.Symbol(ca_name, real=True)
        symbols = (v, ca)
        self.reversal = np.array([c.reversal for c in model.currents])
        self.leak_index = model.index(model.leak)
        self.gates: list[list[GateKernel]] = []
        for j, current in enumerate(model.currents):
            compiled = []
            for gate in current.gates:
                inf = parse_expression(model, gate.steady_state)
                tau = None
                if gate.time_constant is not None:
                    tau = _lambdify(parse_expression(model, gate.time_constant), symbols)
                dca = None
                if model.calcium is not None and ca in inf.free_symbols:
                    dca = _lambdify(sp.diff(inf, ca), symbols)
                if gate.timescale is not None:
                    forced = _FORCED_WEIGHTS[gate.timescale]
                elif gate.is_instantaneous:
                    forced = _FORCED_WEIGHTS["fast"]
                else:
                    forced = None
                compiled.append(
                    GateKernel(
                        current_index=j,
                        name=gate.name,
                        exponent=gate.exponent,
                        steady_state=_lambdify(inf, symbols),
                        d_steady_state_dv=_lambdify(sp.diff(inf, v), symbols),
                        d_steady_state_dca=dca,
                        time_constant=tau,
                        forced_weights=forced,
                    )
                )
            self.gates.append(compiled)
        self.calcium_currents: tuple[int, ...] = ()
        if model.calcium is not None:
            self.calcium_currents = tuple(model.index(n) for n in model.calcium.currents)
            for j in self.calcium_currents:
                if any(g.calcium_dependent for g in self.gates[j]):
                    msg = f"Calcium current {model.currents[j].name!r} cannot itself be calcium-gated."
                    raise ValueError(msg)
        self.calcium_dependent_currents = tuple(
            j for j, gates in enumerate(self.gates) if any(g.calcium_dependent for g in gates)
        )
        self._references = [self._reference(r) for r in model.reference_timescales]

    # ------------------------------------------------------------------ helpers
    def _reference(self, ref: str | float) -> NumericFunction:
        if isinstance(ref, str):
            current_name, _, gate_name = ref.partition(".")
            j = self.model.index(current_name)
            gate = next(g for g in self.gates[j] if g.name == gate_name)
            if gate.time_constant is None:
                msg = f"Reference timescale {ref!r} points to a gate without a time constant."
                raise ValueError(msg)
            return gate.time_constant
        value = float(ref)
        return lambda voltage, calcium: np.full(np.shape(voltage), value)

    def reference_timescales(self, voltage: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Fast, slow and ultraslow reference time constants (ms) at ``voltage``."""
        tau_f, tau_s, tau_u = (ref(voltage, 0.0) for ref in self._references)
        return tau_f, tau_s, tau_u

    def _open_fraction(self, j: int, voltage: Any) -> tuple[np.ndarray, np.ndarray]:
        """``prod x_inf^p`` of a voltage-only current and its voltage derivative."""
        value = np.ones(np.shape(voltage))
        derivative = np.zeros(np.shape(voltage))
        for gate in self.gates[j]:
            x = gate.steady_state(voltage, 0.0)
            dx = gate.d_steady_state_dv(voltage, 0.0)
            p = gate.exponent
            derivative = derivative * x**p + value * p * x ** (p - 1) * dx
            value = value * x**p
        return value, derivative

    # ------------------------------------------------------------------ calcium
    def calcium_steady_state(
        self, voltage: np.ndarray, conductances: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Steady-state calcium and its voltage derivative.

        Parameters
        ----------
        voltage : ndarray, shape (n_voltages,)
        conductances : ndarray, shape (n_sets, n_conductances)

        Returns
        -------
        calcium, d_calcium_dv : ndarray, shape (n_sets, n_voltages)
        """
        calcium_spec = self.model.calcium
        if calcium_spec is None:
            msg = f"Model {self.model.name!r} has no calcium dynamics."
            raise ValueError(msg)
        current = np.zeros((conductances.shape[0], np.size(voltage)))
        d_current = np.zeros_like(current)
        for j in self.calcium_currents:
            open_fraction, d_open = self._open_fraction(j, voltage)
            drive = voltage - self.reversal[j]
            unit_current = open_fraction * drive
            d_unit_current = d_open * drive + open_fraction
            current += conductances[:, j, None] * unit_current[None, :]
            d_current += conductances[:, j, None] * d_unit_current[None, :]
        calcium = calcium_spec.beta - calcium_spec.alpha * current
        return calcium, -calcium_spec.alpha * d_current

    def _calcium_weights(self, voltage: Any) -> tuple[np.ndarray, np.ndarray]:
        calcium_spec = self.model.calcium
        assert calcium_spec is not None
        if self.model.calcium_dic_convention == "ultraslow":
            zeros = np.zeros(np.shape(voltage))
            return zeros, zeros
        tau_f, tau_s, tau_u = self.reference_timescales(voltage)
        tau = calcium_spec.time_constant
        return log_weight(tau, tau_f, tau_s), log_weight(tau, tau_s, tau_u)

    # ------------------------------------------------------------------ sensitivities
    def current_sensitivity(
        self,
        j: int,
        voltage: Any,
        calcium: Any = 0.0,
        d_calcium_dv: Any = 0.0,
    ) -> np.ndarray:
        """DIC sensitivity ``(S_f, S_s, S_u)`` of current ``j`` per unit conductance.

        ``voltage``, ``calcium`` and ``d_calcium_dv`` broadcast together; the result has their
        broadcast shape plus a trailing axis of length 3.
        """
        shape = np.broadcast_shapes(np.shape(voltage), np.shape(calcium), np.shape(d_calcium_dv))
        gates = self.gates[j]
        fast = np.ones(shape)
        slow = np.zeros(shape)
        ultraslow = np.zeros(shape)
        if not gates:
            return np.stack([fast, slow, ultraslow], axis=-1)
        drive = voltage - self.reversal[j]
        values = [g.steady_state(voltage, calcium) for g in gates]
        powers = [x**g.exponent for x, g in zip(values, gates, strict=True)]
        fast = fast * np.prod(np.broadcast_arrays(*powers), axis=0)
        tau_f, tau_s, tau_u = self.reference_timescales(voltage)
        for k, gate in enumerate(gates):
            others = np.ones(shape)
            for m, power in enumerate(powers):
                if m != k:
                    others = others * power
            partial = gate.exponent * values[k] ** (gate.exponent - 1) * others * drive
            terms = [(partial * gate.d_steady_state_dv(voltage, calcium), self._gate_weights(gate, voltage, calcium, tau_f, tau_s, tau_u))]
            if gate.d_steady_state_dca is not None:
                term = partial * gate.d_steady_state_dca(voltage, calcium) * d_calcium_dv
                terms.append((term, self._calcium_weights(voltage)))
            for feedback, (w_fs, w_su) in terms:
                fast = fast + w_fs * feedback
                slow = slow + (w_su - w_fs) * feedback
                ultraslow = ultraslow + (1.0 - w_su) * feedback
        return np.stack(np.broadcast_arrays(fast, slow, ultraslow), axis=-1)

    @staticmethod
    def _gate_weights(
        gate: GateKernel, voltage: Any, calcium: Any, tau_f: Any, tau_s: Any, tau_u: Any
    ) -> tuple[Any, Any]:
        if gate.forced_weights is not None:
            return gate.forced_weights
        assert gate.time_constant is not None
        tau = gate.time_constant(voltage, calcium)
        return log_weight(tau, tau_f, tau_s), log_weight(tau, tau_s, tau_u)

    @lru_cache(maxsize=64)  # noqa: B019 - kernels live as long as the process anyway
    def static_sensitivity(self, voltage: float) -> np.ndarray:
        """Sensitivity matrix, shape (3, n_conductances), at one voltage, for currents whose
        sensitivity does not depend on the conductances (calcium-gated columns are zero)."""
        matrix = np.zeros((3, self.model.n_conductances))
        for j in range(self.model.n_conductances):
            if j not in self.calcium_dependent_currents:
                matrix[:, j] = self.current_sensitivity(j, np.float64(voltage))
        matrix.setflags(write=False)
        return matrix

    def static_sensitivity_grid(self, voltage: np.ndarray) -> np.ndarray:
        """Like :meth:`static_sensitivity` on many voltages: shape (n_voltages, 3, n_conductances)."""
        matrix = np.zeros((np.size(voltage), 3, self.model.n_conductances))
        for j in range(self.model.n_conductances):
            if j not in self.calcium_dependent_currents:
                matrix[:, :, j] = self.current_sensitivity(j, voltage)
        return matrix

    def sensitivity_matrix(self, voltage: float, conductances: np.ndarray) -> np.ndarray:
        """Full sensitivity matrix at one voltage for each conductance set.

        Parameters
        ----------
        voltage : float
            mV.
        conductances : ndarray, shape (n_sets, n_conductances)
            Only the calcium currents' conductances matter (through ``Ca_inf``).

        Returns
        -------
        ndarray, shape (n_sets, 3, n_conductances)
            Unnormalised (multiply by conductances and divide by ``g_leak`` to get DICs).
        """
        return self.at_voltage(float(voltage)).matrix(conductances)

    @lru_cache(maxsize=64)  # noqa: B019
    def at_voltage(self, voltage: float) -> VoltageSlice:
        """Precomputed :class:`VoltageSlice` at ``voltage`` (mV), cached."""
        return VoltageSlice(self, voltage)

    def dics(self, conductances: np.ndarray, voltage: np.ndarray) -> np.ndarray:
        """DICs of each conductance set at each voltage.

        Parameters
        ----------
        conductances : ndarray, shape (n_sets, n_conductances)
        voltage : ndarray, shape (n_voltages,)

        Returns
        -------
        ndarray, shape (n_sets, n_voltages, 3)
            ``g_f, g_s, g_u`` normalised by ``g_leak``.
        """
        static = self.static_sensitivity_grid(voltage)
        out = np.einsum("mxj,nj->nmx", static, conductances)
        if self.calcium_dependent_currents:
            calcium, d_calcium = self.calcium_steady_state(voltage, conductances)
            for j in self.calcium_dependent_currents:
                sens = self.current_sensitivity(j, voltage[None, :], calcium, d_calcium)
                out += sens * conductances[:, j, None, None]
        return out / conductances[:, self.leak_index, None, None]


@cache
def _printer_classes() -> tuple[type, type]:
    """The two numpy code printers of the calcium-gated columns (sympy is imported lazily).

    ``ProductPowerPrinter`` writes ``x**n`` (2 <= |n| <= 8) as products: numpy multiplies much
    faster than it calls ``pow``, and these powers (gate exponents) sit in the hot loop of
    compensation.  It is the printer of the reference functions (plain ``sympy.lambdify``).

    ``StreamlinedPrinter`` prints the same arithmetic, bit for bit, directly in a cheaper form
    (see :func:`_streamlined_function`).
    """
    from sympy import Integer, S
    from sympy.printing.numpy import NumPyPrinter
    from sympy.printing.precedence import precedence

    class ProductPowerPrinter(NumPyPrinter):
        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            if expr.exp.is_Integer and 2 <= abs(int(expr.exp)) <= 8:
                base = f"({self._print(expr.base)})"
                product = "*".join([base] * abs(int(expr.exp)))
                return f"({product})" if int(expr.exp) > 0 else f"({self._print(S.One)}/({product}))"
            return super()._print_Pow(expr, rational=rational)

    class StreamlinedPrinter(ProductPowerPrinter):
        """Prints what :class:`ProductPowerPrinter` prints, with three changes of form.

        * ``x**n`` of a symbol ``x`` (2 <= |n| <= 8) is written ``_x_pow<n>``, a name that the
          generated function computes once, right after ``x``, as the chain
          ``x*x``, ``_x_pow2*x``, ... (the same left-to-right products as ``((x)*(x)*(x))``).
        * Each numeric literal becomes a named 0-d float64 array (numpy combines an array with a
          0-d array faster than with a Python number; the arithmetic is the same).  Numeric
          exponents stay Python numbers (numpy special-cases some).
        * A negative number that leads a product is one negative constant, not a unary minus
          in front of a positive one, so ``y - 2*x`` is written ``y + _k*x`` with ``_k = -2``
          (IEEE 754 makes ``(-a)*b`` equal to ``-(a*b)`` and ``y + (-b)`` to ``y - b``, bit
          for bit).

        Everything else is printed as the parent prints it.

        ``constants`` (name -> value) and ``powers`` (symbol name -> highest power used) record
        what the printed code needs.
        """

        def __init__(self, settings: dict[str, Any]) -> None:
            super().__init__(settings)
            self.constants: dict[str, np.ndarray] = {}
            self.powers: dict[str, int] = {}
            self._names: dict[str, str] = {}  # float.hex(value) -> constant name
            self._literal_depth = 0  # > 0 while printing a numeric exponent
            self._negate: Any = None  # a leading coefficient to print as one negative constant

        def _constant(self, expr: Any, text: str) -> str:
            """The name of the constant whose value is the Python literal ``text`` (of ``expr``)."""
            value = float(text)
            if self._negate is not None:
                if expr != self._negate:
                    msg = f"internal error: expected the coefficient {self._negate} first, got {expr}"
                    raise RuntimeError(msg)
                self._negate = None
                value = -value
            key = value.hex()
            name = self._names.get(key)
            if name is None:
                name = self._names[key] = f"_k{len(self._names)}"
                self.constants[name] = np.array(value)
            return name

        def _print_Float(self, expr: Any) -> str:
            text = super()._print_Float(expr)
            return text if self._literal_depth or not np.isfinite(float(text)) else self._constant(expr, text)

        def _print_Integer(self, expr: Any) -> str:
            text = super()._print_Integer(expr)
            exact = float(expr.p) == expr.p  # larger integers stay Python integers
            return text if self._literal_depth or not exact else self._constant(expr, text)

        def _print_Zero(self, expr: Any) -> str:
            return self._print_Integer(expr)

        def _print_Rational(self, expr: Any) -> str:
            return f"{self._print(Integer(expr.p))}/{self._print(Integer(expr.q))}"

        def _print_Mul(self, expr: Any) -> str:
            coefficient = expr.as_coeff_Mul()[0]
            if not (coefficient.is_Number and coefficient.is_finite and coefficient < 0 and coefficient != -1):
                return super()._print_Mul(expr)
            # the parent writes "-" and then the coefficient's magnitude (of a fraction: its
            # numerator) as the first number
            magnitude = -coefficient
            self._negate = Integer(magnitude.p) if magnitude.is_Rational else magnitude
            text = super()._print_Mul(expr)
            if self._negate is not None or not text.startswith("-"):
                msg = f"internal error: the coefficient of {expr} was not printed first after its sign: {text}"
                raise RuntimeError(msg)
            return text[1:]

        def _print_Pow(self, expr: Any, rational: bool = False) -> str:
            n = expr.exp
            if expr.base.is_Symbol and n.is_Integer and 2 <= abs(int(n)) <= 8:
                name = self._print(expr.base)
                self.powers[name] = max(self.powers.get(name, 1), abs(int(n)))
                chain = f"_{name}_pow{abs(int(n))}"
                return chain if n > 0 else f"({self._print(S.One)}/{chain})"
            return super()._print_Pow(expr, rational=rational)

        def _hprint_Pow(self, expr: Any, rational: bool = False, sqrt: str = "math.sqrt") -> str:
            simple = expr.exp == S.Half or (expr.is_commutative and (-expr.exp is S.Half or expr.exp is S.NegativeOne))
            if not expr.exp.is_Number or rational or simple:
                return super()._hprint_Pow(expr, rational=rational, sqrt=sqrt)
            # as the parent, except that the exponent is written as a Python number
            level = precedence(expr)
            base = self.parenthesize(expr.base, level, strict=False)
            self._literal_depth += 1
            try:
                exponent = self.parenthesize(expr.exp, level, strict=False)
            finally:
                self._literal_depth -= 1
            return f"{base}**{exponent}"

    return ProductPowerPrinter, StreamlinedPrinter


_PRINTER_SETTINGS = {"fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True}


def _printer() -> Any:
    """The printer of the reference functions: ``x**n`` (2 <= |n| <= 8) as products."""
    return _printer_classes()[0](dict(_PRINTER_SETTINGS))


def _streamlined_function(arguments: tuple[Any, ...], expressions: list[Any], namespace: dict[str, Any]) -> Callable[..., list[Any]]:
    """``sympy.lambdify(arguments, expressions, cse=True, printer=_printer())``, bit for bit,
    with fewer and cheaper numpy calls.

    The same common subexpressions and the same arithmetic, but integer powers of a name are
    computed once as a chain of products and numeric literals are 0-d float64 arrays (see
    ``StreamlinedPrinter`` in :func:`_printer_classes`).  The source is written in this form
    directly, not rewritten afterwards; what the generator cannot write raises (``ValueError``,
    or ``RuntimeError`` for an internal inconsistency) instead of falling back to a slower
    function.  ``tests/test_kernel_streamlined.py`` holds it to ``lambdify`` bit for bit.  The
    function carries its source as ``source``.

    ``namespace`` holds the names the printed code calls (a lambdified function's globals).
    """
    from sympy.simplify.cse_main import cse

    printer = _printer_classes()[1](dict(_PRINTER_SETTINGS))
    replacements, reduced = cse(list(expressions), list=False)
    argument_names = [printer.doprint(a) for a in arguments]
    assigned = [printer.doprint(s) for s, _ in replacements]
    assignments = [printer.doprint(value) for _, value in replacements]
    result = "[" + ", ".join(printer.doprint(e) for e in reduced) + "]"
    defined = argument_names + assigned
    generated = set(printer.constants) | {f"_{n}_pow{k}" for n, top in printer.powers.items() for k in range(2, top + 1)}
    problems = [
        (not all(name.isidentifier() for name in defined), f"variable names that are not identifiers: {defined}"),
        (len(set(defined)) != len(defined), f"variable names that repeat: {defined}"),
        (bool(generated & set(defined)), f"variable names that clash with generated ones: {sorted(generated & set(defined))}"),
        (bool(set(printer.powers) - set(defined)), f"powers of undefined names: {sorted(set(printer.powers) - set(defined))}"),
        (any("\n" in text for text in [*assignments, result]), "code that is not a single expression per line"),
    ]
    for problem, what in problems:
        if problem:
            msg = f"cannot generate a streamlined function for {expressions}: {what}"
            raise ValueError(msg)

    def chain(name: str) -> list[str]:
        n = printer.powers.get(name, 1)
        if n < 2:
            return []
        return [f"    _{name}_pow2 = {name}*{name}"] + [f"    _{name}_pow{k} = _{name}_pow{k - 1}*{name}" for k in range(3, n + 1)]

    lines = [f"def _streamlined({', '.join(argument_names)}):"]
    for name in argument_names:
        lines += chain(name)
    for name, text in zip(assigned, assignments, strict=True):
        lines.append(f"    {name} = {text}")
        lines += chain(name)
    lines.append(f"    return {result}")
    source = "\n".join(lines) + "\n"
    scope = dict(namespace)
    scope.update(printer.constants)
    exec(compile(source, "<streamlined>", "exec"), scope)  # noqa: S102 - source generated above
    func = scope["_streamlined"]
    func.source = source
    return func


class VoltageSlice:
    """Everything :class:`ModelKernel` needs at one fixed voltage, precomputed.

    At a fixed ``V`` the sensitivity matrix is a constant except for the columns of
    calcium-gated currents, which depend on each set's steady-state calcium.  That calcium is
    linear in the calcium conductances, so per set only a handful of array operations remain.
    This is the hot path of compensation (many sets, one ``V_th``).
    """

    def __init__(self, kernel: ModelKernel, voltage: float) -> None:
        sp = sympy_module()
        self.kernel = kernel
        self.voltage = float(voltage)
        self.static = kernel.static_sensitivity(self.voltage)
        model = kernel.model
        self.calcium_index = np.array(kernel.calcium_currents, dtype=np.intp)
        self.columns: list[tuple[int, Callable[[np.ndarray, np.ndarray], np.ndarray]]] = []
        # ``(j, f)`` with ``f(Ca, dCa_dV)`` the raw rows ``[S_f, S_s, S_u]`` of column ``j``
        # (arrays or scalars, not broadcast): the solver's hot loop uses them directly.  They are
        # generated streamlined (``_streamlined_function``) unless ``kernel.streamlined`` is False.
        self.functions: list[tuple[int, Callable[[Any, Any], list[Any]]]] = []
        self.plans: dict[Any, Any] = {}  # per (unknowns, rows) constants, filled by the solver
        if not kernel.calcium_dependent_currents:
            return
        v = np.array([self.voltage])
        unit, d_unit = [], []
        for j in kernel.calcium_currents:
            open_fraction, d_open = kernel._open_fraction(j, v)
            drive = v - kernel.reversal[j]
            unit.append((open_fraction * drive)[0])
            d_unit.append((d_open * drive + open_fraction)[0])
        assert model.calcium is not None
        self.alpha, self.beta = model.calcium.alpha, model.calcium.beta
        self.unit_current = np.array(unit)
        self.d_unit_current = np.array(d_unit)
        ca = sp.Symbol(model.calcium.name, real=True)
        dca = sp.Symbol("dCa_dV", real=True)
        v_sym = sp.Symbol(VOLTAGE, real=True)
        tau_f, tau_s, tau_u = (float(t) for t in kernel.reference_timescales(np.float64(self.voltage)))
        w_ca = kernel._calcium_weights(np.float64(self.voltage))
        for j in kernel.calcium_dependent_currents:
            current = model.currents[j]
            drive = self.voltage - current.reversal
            infs = [parse_expression(model, g.steady_state) for g in current.gates]
            at_v = [e.subs(v_sym, self.voltage) for e in infs]
            powers = [x**g.exponent for x, g in zip(at_v, current.gates, strict=True)]
            fast, slow, ultraslow = sp.Mul(*powers), sp.Integer(0), sp.Integer(0)
            for k, gate in enumerate(current.gates):
                others = sp.Mul(*[p for m, p in enumerate(powers) if m != k])
                partial = gate.exponent * at_v[k] ** (gate.exponent - 1) * others * drive
                d_v = sp.diff(infs[k], v_sym).subs(v_sym, self.voltage)
                compiled = kernel.gates[j][k]
                if compiled.forced_weights is not None:
                    w_fs, w_su = compiled.forced_weights
                else:
                    tau_expr = parse_expression(model, gate.time_constant).subs(v_sym, self.voltage)
                    if tau_expr.free_symbols:
                        msg = "calcium-dependent time constants are not supported"
                        raise NotImplementedError(msg)
                    tau = float(tau_expr)
                    w_fs = float(log_weight(tau, tau_f, tau_s))
                    w_su = float(log_weight(tau, tau_s, tau_u))
                terms = [(partial * d_v, w_fs, w_su)]
                if ca in infs[k].free_symbols:
                    d_c = sp.diff(infs[k], ca).subs(v_sym, self.voltage)
                    terms.append((partial * d_c * dca, float(w_ca[0]), float(w_ca[1])))
                for feedback, a, b in terms:
                    fast += a * feedback
                    slow += (b - a) * feedback
                    ultraslow += (1.0 - b) * feedback
            rows = [fast, slow, ultraslow]
            func = sp.lambdify((ca, dca), rows, modules="numpy", cse=True, printer=_printer())

            def column(calcium: np.ndarray, d_calcium: np.ndarray, func: Any = func) -> np.ndarray:
                parts = np.broadcast_arrays(*func(calcium, d_calcium), calcium)[:3]
                return np.stack(parts, axis=-1)

            self.columns.append((j, column))
            fastest = _streamlined_function((ca, dca), rows, func.__globals__) if kernel.streamlined else func
            self.functions.append((j, fastest))

    def calcium(self, conductances: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Steady-state calcium and its voltage derivative for each set, shape (n_sets,)."""
        g_ca = conductances[:, self.calcium_index]
        return self.beta - self.alpha * (g_ca @ self.unit_current), -self.alpha * (g_ca @ self.d_unit_current)

    def dependent_columns(self, conductances: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``(j, S[:, :, j])`` for each calcium-gated current ``j``; arrays of shape (n_sets, 3)."""
        if not self.columns:
            return []
        calcium, d_calcium = self.calcium(conductances)
        return [(j, column(calcium, d_calcium)) for j, column in self.columns]

    def matrix(self, conductances: np.ndarray) -> np.ndarray:
        """Full sensitivity matrix, shape (n_sets, 3, n_conductances)."""
        out = np.repeat(self.static[None], conductances.shape[0], axis=0)
        for j, column in self.dependent_columns(conductances):
            out[:, :, j] = column
        return out


@cache
def _kernel_cache(model: NeuronModel) -> ModelKernel:
    return ModelKernel(model)


def kernel_for(model: NeuronModel) -> ModelKernel:
    """The compiled kernel of ``model`` (built on first use, then cached)."""
    return _kernel_cache(model)
