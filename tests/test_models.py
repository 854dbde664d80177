"""Model declarations: validation, registry, exact derivatives."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.models import Current, Gate, MarkovScheme, get_model, register_model
from nwb_dicpop.models.kernel import kernel_for

MODELS = ["stg", "da"]


def test_conductance_order_is_the_published_one():
    assert get_model("stg").conductance_names == ("Na", "Kd", "CaT", "CaS", "KCa", "A", "H", "leak")
    assert get_model("da").conductance_names == ("Na", "Kd", "CaL", "CaN", "ERG", "NMDA", "leak")
    assert ndp.available_models() == ("stg", "da")


def test_unknown_model_suggests_close_name():
    with pytest.raises(ValueError, match="Did you mean 'stg'"):
        get_model("stgg")
    with pytest.raises(ValueError, match="Did you mean 'da'"):
        get_model("DA")


def test_unknown_conductance_suggests_close_name():
    with pytest.raises(ValueError, match="Did you mean 'KCa'"):
        get_model("stg").index("Kca")


@pytest.mark.parametrize("model", MODELS)
def test_exact_derivatives_match_finite_differences(model):
    kernel = kernel_for(get_model(model))
    voltage = np.linspace(-85.0, -5.0, 41) + 0.0123  # avoid removable singularities
    step = 1e-5
    calcium = 0.7
    for gates in kernel.gates:
        for gate in gates:
            exact = gate.d_steady_state_dv(voltage, calcium)
            numeric = (gate.steady_state(voltage + step, calcium) - gate.steady_state(voltage - step, calcium)) / (2 * step)
            np.testing.assert_allclose(exact, numeric, rtol=1e-5, atol=1e-10)
            if gate.d_steady_state_dca is not None:
                exact_ca = gate.d_steady_state_dca(voltage, calcium)
                numeric_ca = (gate.steady_state(voltage, calcium + step) - gate.steady_state(voltage, calcium - step)) / (2 * step)
                np.testing.assert_allclose(exact_ca, numeric_ca, rtol=1e-5, atol=1e-10)


def _value(expr, **values):
    return float(expr.subs({s: values[s.name] for s in expr.free_symbols}))


def test_markov_erg_steady_state_is_the_fixed_point_of_its_scheme():
    """o_inf declared for DA ERG must zero the declared Markov derivatives."""
    from nwb_dicpop.models.expressions import parse_expression

    model = get_model("da")
    gate = model.gate("ERG.o")
    for v in (-80.0, -55.5, -30.0):
        o_inf = _value(parse_expression(model, gate.steady_state), V=v)
        rates = {name: _value(parse_expression(model, name), V=v) for name in ("a0", "b0", "ai", "bi")}
        i_inf = rates["ai"] * o_inf / rates["bi"]
        for expression in gate.markov.derivatives.values():
            value = parse_expression(model, expression, extra_names=("o", "i"))
            value = _value(value, V=v, o=o_inf, i=i_inf)
            assert abs(value) < 1e-12


def test_declaration_rejects_bad_parts():
    with pytest.raises(ValueError, match="exponent"):
        Gate("m", "1", "1", exponent=0)
    with pytest.raises(ValueError, match="timescale"):
        Gate("m", "1", "1", timescale="medium")
    with pytest.raises(ValueError, match="duplicate gate"):
        Current("X", 0.0, (Gate("m", "1", "1"), Gate("m", "1", "1")))
    with pytest.raises(ValueError, match="first state"):
        Gate("o", "1", markov=MarkovScheme({"i": "0", "o": "0"}, {"i": "0", "o": "0"}), timescale="slow")
    with pytest.raises(ValueError, match="not allowed"):
        Gate("m_1", "1", "1")


def test_unknown_name_in_expression_is_reported():
    bad = dataclasses.replace(
        get_model("da"),
        name="da-bad",
        definitions={**get_model("da").definitions, "a0": "0.0036*exp(0.0759*Vm)"},
    )
    with pytest.raises(ValueError, match=r"unknown name.*'Vm'"):
        ndp.compute_dics(bad, [34.1, 13.2, 0.02, 0.05, 0.2, 0.01, 0.012], -55.5)


def test_register_model_makes_it_available_by_name():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).parent))
    from hh_model import REFERENCE, make_hh

    model = make_hh((0.0, 0.0, 0.0))
    register_model(model)
    try:
        assert ndp.get_model("hh-m") is model
        with pytest.raises(ValueError, match="already registered"):
            register_model(dataclasses.replace(model))
        assert ndp.compute_dics("hh-m", REFERENCE, -51.0).shape == (3,)
    finally:
        from nwb_dicpop.models import _REGISTRY

        _REGISTRY.pop("hh-m", None)
