"""DICs and thresholds against reference values and physical identities."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np
import pytest

import nwb_dicpop as ndp
from nwb_dicpop.models import get_model
from nwb_dicpop.models.expressions import parse_expression

sys.path.insert(0, str(Path(__file__).parent))
from hh_model import REFERENCE, make_hh

# science.md section 15
STG_SPIKER = [6600.82, 125.961, 4.14918, 18.3416, 159.678, 413.833, 0.321589, 0.00957712]
STG_BURSTER = [2817.51, 145.853, 8.42704, 14.5819, 106.575, 151.625, 0.367656, 0.00947268]
MECA_SPIKING = [[6012, 151, 3.63, 9.98, 115.1, 281, 0.292, 0.010], [6013, 136, 5.07, 6.06, 92.9, 237, 0.292, 0.010]]
MECA_BURSTING = [[4623, 99, 34.19, 8.77, 48.2, 233, 0.236, 0.007], [7501, 147, 54.65, 19.57, 80.0, 470, 0.380, 0.011]]
DA_SPIKER = [34.1176, 13.2287, 0.021568, 0.056028, 0.209517, 0.0115522, 0.0123704]
DA_BURSTER = [25.1759, 7.03265, 0.112492, 0.0482002, 0.0777861, 0.00848305, 0.00908393]


def test_stg_tonic_spiker_reference_values():
    g_f, g_s, g_u = ndp.compute_dics("stg", STG_SPIKER, -51.0)
    assert g_f == pytest.approx(-6.16, abs=0.01)
    assert g_s == pytest.approx(3.94, abs=0.01)
    assert g_u == pytest.approx(4.97, abs=0.01)


def test_stg_tonic_spiker_threshold():
    result = ndp.find_threshold("stg", STG_SPIKER)
    assert result.voltage == pytest.approx(-50.6, abs=0.1)
    assert result.reason == ("",)


def test_meca_examples_have_their_published_signs_and_sizes():
    spiking = ndp.compute_dics("stg", MECA_SPIKING, -51.0)
    bursting = ndp.compute_dics("stg", MECA_BURSTING, -51.0)
    # published values are rounded conductances: DICs ~ (-6.6, +-4, 5)
    np.testing.assert_allclose(spiking[:, 1], 4.0, atol=0.3)
    np.testing.assert_allclose(bursting[:, 1], -5.0, atol=0.6)
    np.testing.assert_allclose(spiking[:, 2], 5.0, atol=0.3)
    np.testing.assert_allclose(bursting[:, 2], 5.0, atol=0.3)
    assert np.all(spiking[:, 0] < -5)
    assert np.all(bursting[:, 0] < -5)


def test_bursters_have_negative_slow_feedback_spikers_positive():
    assert ndp.compute_dics("stg", STG_BURSTER, -51.0)[1] < 0
    assert ndp.compute_dics("da", DA_SPIKER, -55.5)[1] > 0
    assert ndp.compute_dics("da", DA_BURSTER, -55.5)[1] < 0


def _value(expr, **values):
    return float(expr.subs({s: values[s.name] for s in expr.free_symbols}))


def _steady_state_current(model_name, conductances, voltage):
    """I_inf(V) computed directly from the declaration (independent of the DIC code)."""
    model = get_model(model_name)
    total = 0.0
    calcium = None
    if model.calcium is not None:
        calcium_current = 0.0
        for name in model.calcium.currents:
            current = model.current(name)
            opening = 1.0
            for gate in current.gates:
                opening *= _value(parse_expression(model, gate.steady_state), V=voltage) ** gate.exponent
            calcium_current += conductances[model.index(name)] * opening * (voltage - current.reversal)
        calcium = model.calcium.beta - model.calcium.alpha * calcium_current
    for j, current in enumerate(model.currents):
        opening = 1.0
        for gate in current.gates:
            opening *= _value(parse_expression(model, gate.steady_state), V=voltage, Ca=calcium) ** gate.exponent
        total += conductances[j] * opening * (voltage - current.reversal)
    return total


@pytest.mark.parametrize(
    ("model", "conductances"), [("stg", STG_SPIKER), ("stg", STG_BURSTER), ("da", DA_SPIKER), ("da", DA_BURSTER)]
)
@pytest.mark.parametrize("voltage", [-65.0, -55.0, -45.0])
def test_total_dic_is_the_slope_of_the_steady_state_iv_curve(model, conductances, voltage):
    step = 1e-4
    slope = (_steady_state_current(model, conductances, voltage + step) - _steady_state_current(model, conductances, voltage - step)) / (2 * step)
    leak = conductances[get_model(model).index("leak")]
    total = ndp.compute_dics(model, conductances, voltage).sum()
    assert total == pytest.approx(slope / leak, rel=1e-5, abs=1e-6)


def test_calcium_convention_moves_feedback_between_bands_but_keeps_the_total():
    fyon = dataclasses.replace(get_model("stg"), name="stg-fyon", calcium_dic_convention="ultraslow")
    default = ndp.compute_dics("stg", STG_SPIKER, -51.0)
    ultraslow = ndp.compute_dics(fyon, STG_SPIKER, -51.0)
    assert default.sum() == pytest.approx(ultraslow.sum(), rel=1e-12)
    assert not np.allclose(default, ultraslow)
    assert default[0] == pytest.approx(ultraslow[0], rel=1e-6)  # tau_Ca = 20 ms is never fast


def test_vectorised_shapes_are_an_outer_product_and_match_loops():
    sets = np.array([STG_SPIKER, STG_BURSTER, *MECA_SPIKING])
    volts = np.array([-60.0, -51.0, -40.0])
    grid = ndp.compute_dics("stg", sets, volts)
    assert grid.shape == (4, 3, 3)
    for i, g in enumerate(sets):
        for k, v in enumerate(volts):
            np.testing.assert_allclose(grid[i, k], ndp.compute_dics("stg", g, v), rtol=1e-12)
    assert ndp.compute_dics("stg", sets[None], volts[:, None]).shape == (1, 4, 3, 1, 3)


def test_da_dics_are_invariant_to_scaling_all_conductances():
    scaled = np.array(DA_SPIKER) * 3.7
    np.testing.assert_allclose(ndp.compute_dics("da", scaled, -55.5), ndp.compute_dics("da", DA_SPIKER, -55.5), rtol=1e-12)


def test_threshold_is_nan_with_reason_when_there_is_no_regenerative_region():
    no_sodium = list(STG_SPIKER)
    no_sodium[0] = 0.0
    result = ndp.find_threshold("stg", [no_sodium, STG_SPIKER])
    assert np.isnan(result.voltage[0])
    assert np.isfinite(result.voltage[1])
    assert "stays positive" in result.reason[0]
    assert result.reason[1] == ""
    assert result.found.tolist() == [False, True]


def test_threshold_is_a_decreasing_zero_of_the_total_conductance():
    sets = ndp.generate_spiking_population("stg", n_models=20, rng=3).conductances
    result = ndp.find_threshold("stg", sets)
    for g, v in zip(sets, result.voltage, strict=True):
        below, above = ndp.compute_dics("stg", g, [v - 0.01, v + 0.01]).sum(axis=-1)
        assert below > 0 >= above


def test_third_model_declared_in_a_test_works_unchanged():
    model = make_hh((0.0, 0.0, 0.0))
    v_th = ndp.find_threshold(model, REFERENCE).voltage
    assert -55.0 < v_th < -48.0
    g_f, g_s, g_u = ndp.compute_dics(model, REFERENCE, -51.0)
    assert g_f < 0 < g_s
    assert g_u > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"conductances": [1.0, 2.0]}, "8 entries"),
        ({"conductances": [np.nan, *STG_SPIKER[1:]]}, "NaN"),
        ({"conductances": [-1.0, *STG_SPIKER[1:]]}, "negative"),
        ({"conductances": [*STG_SPIKER[:-1], 0.0]}, "leak"),
        ({"voltage": 0.05}, None),
        ({"voltage": -0.051e4}, "millivolts"),
        ({"voltage": "abc"}, "numeric"),
    ],
)
def test_bad_input_is_named(kwargs, match):
    args = {"conductances": STG_SPIKER, "voltage": -51.0, **kwargs}
    if match is None:
        ndp.compute_dics("stg", **args)  # a valid (if odd) voltage in mV
        return
    with pytest.raises((ValueError, TypeError), match=match):
        ndp.compute_dics("stg", **args)
