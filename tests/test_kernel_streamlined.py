"""The streamlined calcium-column functions of the kernel (models/kernel.py).

They are generated directly in a cheaper form than ``sympy.lambdify`` writes; these tests hold
them to the lambdified reference bit for bit, check that the kernel's results do not depend on
which of the two the solver uses, and that STG and DA take the fast path.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
import nwb_dicpop.models.kernel as kernel_module
from nwb_dicpop.compensation import candidate_sets, compensate
from nwb_dicpop.models import get_model
from nwb_dicpop.models.kernel import ModelKernel, _printer, _streamlined_function, kernel_for

sys.path.insert(0, str(Path(__file__).parent))
from hh_model import REFERENCE, make_hh


def _assert_identical(actual, expected, what=""):
    """Same values bit for bit: NaNs in the same places, zeros with the same sign."""
    if isinstance(expected, (tuple, list)):
        assert len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected, strict=True)):
            _assert_identical(a, e, f"{what}[{i}]")
        return
    if isinstance(expected, str):
        assert actual == expected, what
        return
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, what
    if expected.dtype.kind not in "fc":
        np.testing.assert_array_equal(actual, expected, err_msg=what)
        return
    actual, expected = actual.astype(np.float64), expected.astype(np.float64)
    assert np.array_equal(actual, expected, equal_nan=True), what
    numbers = ~np.isnan(expected)
    assert np.array_equal(np.signbit(actual[numbers]), np.signbit(expected[numbers])), what


# --------------------------------------------------------------------------- the generator
def _symbols():
    import sympy as sp

    return sp, sp.Symbol("Ca", real=True), sp.Symbol("dCa_dV", real=True)


def _row_sets():
    sp, ca, d = _symbols()
    x = ca + 3
    return {
        "stg-like": [
            0.0004*ca**4/x**4,
            0.0016*ca**4/x**4 + 0.24*ca**3*d*(-0.1416*ca/x**2 + 0.1416/x)/x**3,
            0.0015*ca**4/x**4 + 0.087*ca**3*d*(-0.1416*ca/x**2 + 0.1416/x)/x**3,
        ],
        "signs": [-2.5*ca*d/(ca + 1), -ca/3 + d, -sp.Rational(2, 3)*ca*d - 2*ca, -ca, ca - 2*d, d - 0.5, -0.5 + d*ca],
        "powers": [1/ca, ca**-3, ca**-2 + d, ca**8*d**2, ca**9, ca**-9, (ca + d)**3, (ca + 1)**-2, ca**2.5, ca**-1.5],
        "functions": [sp.sqrt(ca), 1/sp.sqrt(ca), sp.exp(-0.5*ca) + 3, sp.tanh(ca)*d**2, sp.log(sp.Abs(d) + 1)*ca],
        "constants": [sp.Integer(0), ca*0 + sp.Float(-1.25), sp.Integer(7), sp.Rational(1, 3)],
    }


@pytest.mark.parametrize("name", list(_row_sets()))
def test_generated_function_is_lambdify_bit_for_bit(name):
    sp, ca, d = _symbols()
    rows = _row_sets()[name]
    reference = sp.lambdify((ca, d), rows, modules="numpy", cse=True, printer=_printer())
    func = _streamlined_function((ca, d), rows, reference.__globals__)
    rng = np.random.default_rng(0)
    calcium = np.concatenate([rng.uniform(-3.0, 3.0, 500) * 10.0 ** rng.uniform(-3, 3, 500), [0.0, -0.0, 1.0, -3.0]])
    d_calcium = np.concatenate([rng.uniform(-3.0, 3.0, 500) * 10.0 ** rng.uniform(-3, 3, 500), [-0.0, 0.0, 2.0, 5.0]])
    with np.errstate(all="ignore"):
        expected, actual = reference(calcium, d_calcium), func(calcium, d_calcium)
        scalar_expected, scalar_actual = reference(0.7, -1.3), func(0.7, -1.3)
    _assert_identical(actual, expected, name)
    _assert_identical(scalar_actual, scalar_expected, name)
    # the cheaper form is written directly: no integer powers of a name, no numeric literal
    # outside a numeric exponent, no unary minus in front of a constant
    assert not _slow_spots(func.source), func.source


def _slow_spots(source):
    """Integer powers of names written as products, numeric literals outside an exponent and
    unary minus signs in front of a generated constant, in ``source``."""
    import io
    import tokenize

    tokens = [t for t in tokenize.generate_tokens(io.StringIO(source).readline) if t.type in (tokenize.OP, tokenize.NAME, tokenize.NUMBER)]
    spots = []
    for i, token in enumerate(tokens):
        before = [t.string for t in tokens[max(0, i - 3) : i]]
        if token.type == tokenize.NUMBER and before[-1:] != ["**"] and before[-3:] != ["**", "(", "-"]:
            spots.append(f"literal {token.string}")
        unary = not before or before[-1] in {"(", "[", ",", "=", "*", "/", "return"}
        if token.string == "-" and unary and tokens[i + 1].string.startswith("_k"):
            spots.append(f"unary minus before {tokens[i + 1].string}")
        if token.string == "(" and tokens[i + 1].type == tokenize.NAME and tokens[i + 2].string == ")" and tokens[i + 3].string == "*":
            spots.append(f"product of ({tokens[i + 1].string})")
    return spots


def test_generator_refuses_what_it_cannot_write_instead_of_falling_back():
    sp, _, d = _symbols()
    clash = sp.Symbol("_k0", real=True)  # the name of the first generated constant
    reference = sp.lambdify((clash, d), [2.5*clash, d], modules="numpy", cse=True, printer=_printer())
    with pytest.raises(ValueError, match="clash"):
        _streamlined_function((clash, d), [2.5*clash, d], reference.__globals__)


# --------------------------------------------------------------------------- the kernel
def _hh():
    return make_hh(tuple(ndp.compute_dics(make_hh((0.0, 0.0, 0.0)), REFERENCE, -51.0)))


def _outputs(model, targets):
    """DICs, thresholds and compensation results of ``model`` through the public functions."""
    spec = get_model(model) if isinstance(model, str) else model
    out = {}
    base = ndp.generate_spiking_population(model, n_models=60, rng=3)
    g = base.conductances
    out["base"] = (g, base.dics)
    out["dics"] = ndp.compute_dics(model, g, spec.threshold)
    out["dics grid"] = ndp.compute_dics(model, g[:20], np.arange(-80.0, -20.01, 1.0))
    threshold = ndp.find_threshold(model, g[:30])
    out["thresholds"] = (threshold.voltage, list(threshold.reason))
    for g_s, g_u in targets:
        pop = ndp.generate_population(model, g_s, g_u, n_models=40, rng=1)
        out["population", g_s, g_u] = (pop.conductances, pop.dics, pop.residual, pop.threshold, list(pop.compensating_set))
    for pair in candidate_sets(model)[::3]:
        solved, residual, n_iterations = compensate(model, g, np.array(targets[0]), pair)
        out["compensate", pair] = (solved, residual, np.array(n_iterations))
    for v in (spec.threshold, -60.0):
        at_v = kernel_for(spec).at_voltage(v)
        out["matrix", v] = at_v.matrix(g)
        out["functions", v] = [func(*at_v.calcium(g)) for _, func in at_v.functions]
    return out


@pytest.mark.parametrize(
    ("model", "targets"),
    [("stg", [(-4.0, 5.0), (6.0, 3.0), (-3.0, -0.5)]), ("da", [(-4.0, 5.0), (6.0, 8.0)]), ("hh", [(0.6, 0.2)])],
)
def test_kernel_results_are_those_of_the_lambdify_reference_bit_for_bit(model, targets, monkeypatch):
    spec = _hh() if model == "hh" else get_model(model)
    model_arg = spec if model == "hh" else model
    streamlined = _outputs(model_arg, targets)
    reference_kernels: dict = {}

    def reference_kernel(m):
        if m not in reference_kernels:
            reference_kernels[m] = ModelKernel(m, streamlined=False)
        return reference_kernels[m]

    monkeypatch.setattr(kernel_module, "_kernel_cache", reference_kernel)
    reference = _outputs(model_arg, targets)
    assert kernel_for(spec) is reference_kernels[spec]  # the second run used the reference path
    assert not any(hasattr(f, "source") for _, f in kernel_for(spec).at_voltage(spec.threshold).functions)
    assert streamlined.keys() == reference.keys()
    for key, expected in reference.items():
        _assert_identical(streamlined[key], expected, f"{model} {key}")


@pytest.mark.parametrize("model", ["stg", "da"])
def test_compensation_takes_the_streamlined_path(model, monkeypatch):
    """A regression here would show only as slowness: every solve uses the constant-matrix plan,
    and STG's calcium-gated column is evaluated by the generated function in the solver loop."""
    spec = get_model(model)
    fresh = ModelKernel(spec)
    monkeypatch.setattr(kernel_module, "_kernel_cache", lambda m: fresh if m is spec else ModelKernel(m))
    at_v = fresh.at_voltage(spec.threshold)
    calls = []
    at_v.functions = [(j, _counting(func, calls)) for j, func in at_v.functions]
    for g_s, g_u in [(-4.0, 5.0), (6.0, 3.0), (-3.0, -0.5)]:
        ndp.generate_population(model, g_s, g_u, n_models=30, rng=1, thresholds=False)
    assert at_v.plans, "the solver made no plan at V_th"
    assert all(plan is not None for plan in at_v.plans.values()), "a solve fell back to the general path"
    if model == "stg":
        assert [j for j, _ in at_v.functions] == [spec.index("KCa")]
        sources = [getattr(func.__wrapped__, "source", "") for _, func in at_v.functions]
        assert all("_Ca_pow4" in source for source in sources), "the column is not the streamlined function"
        assert len(calls) > 0, "the streamlined function was not used by the solver"
    else:
        assert fresh.calcium_dependent_currents == ()  # DA: no calcium-gated column to evaluate
        assert at_v.functions == []


def _counting(func, calls):
    def counted(*args):
        calls.append(1)
        return func(*args)

    counted.__wrapped__ = func
    return counted
