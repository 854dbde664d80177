"""The model ODEs derived from the declarations, the reference solver and spike detection."""

from __future__ import annotations

import numpy as np
import pytest

from nwb_dicpop.models import get_model
from nwb_dicpop.models.dynamics import (
    MIN_TIME_CONSTANT,
    detect_spikes,
    dynamics_for,
    solve_reference,
)
from nwb_dicpop.models.kernel import kernel_for

STG_SPIKING = np.array([6600.82, 125.961, 4.14918, 18.3416, 159.678, 413.833, 0.321589, 0.00957712])
DA_SPIKING = np.array([34.1176, 13.2287, 0.021568, 0.056028, 0.209517, 0.0115522, 0.0123704])


def test_state_layout_follows_the_declaration():
    stg = dynamics_for("stg")
    assert stg.state_names == (
        "V", "Na_m", "Na_h", "Kd_m", "CaT_m", "CaT_h", "CaS_m", "CaS_h", "KCa_m", "A_m", "A_h", "H_m", "Ca",
    )
    da = dynamics_for("da")
    assert da.state_names == ("V", "Na_m", "Na_h", "Kd_n", "CaL_m", "CaN_m", "ERG_o", "ERG_i")
    assert "NMDA_B" in da.instantaneous  # the Mg block is not a state


def test_initial_state_of_science_md_section_2():
    for name, calcium in (("stg", 0.5), ("da", None)):
        model = get_model(name)
        dynamics = dynamics_for(model)
        kernel = kernel_for(model)
        y0 = dynamics.initial_state()
        v0 = model.initial_voltage
        assert y0[0] == v0
        for j, current in enumerate(model.currents):
            for gate, compiled in zip(current.gates, kernel.gates[j], strict=True):
                if gate.is_instantaneous or gate.markov is not None:
                    continue
                expected = compiled.steady_state(np.float64(v0), calcium if calcium is not None else 0.0)
                assert y0[dynamics.index(f"{current.name}_{gate.name}")] == pytest.approx(float(expected))
        if calcium is not None:
            assert y0[dynamics.index("Ca")] == calcium
    da = dynamics_for("da")
    y0 = da.initial_state()
    assert y0[da.index("ERG_o")] == pytest.approx(0.0036 * np.exp(0.0759 * -90.0))  # a0(V0), not o_inf
    assert y0[da.index("ERG_i")] == 0.0
    assert da.initial_state(3).shape == (8, 3)


def test_rhs_gates_relax_to_their_steady_state():
    model = get_model("stg")
    dynamics = dynamics_for(model)
    kernel = kernel_for(model)
    rng = np.random.default_rng(0)
    y = dynamics.initial_state()
    y = y + rng.uniform(0.0, 0.2, size=y.shape) * (np.arange(y.size) > 0)
    y[0] = -45.0
    derivative = dynamics.rhs(0.0, y, STG_SPIKING)
    calcium = y[dynamics.index("Ca")]
    for j, current in enumerate(model.currents):
        for gate, compiled in zip(current.gates, kernel.gates[j], strict=True):
            k = dynamics.index(f"{current.name}_{gate.name}")
            x_inf = compiled.steady_state(np.float64(-45.0), calcium)
            tau = compiled.time_constant(np.float64(-45.0), calcium)
            assert derivative[k] == pytest.approx(float((x_inf - y[k]) / tau), rel=1e-10)
    # dV/dt = -sum(I): with every gate closed but the leak, the leak current alone remains
    closed = y.copy()
    closed[1:-1] = 0.0
    assert dynamics.rhs(0.0, closed, STG_SPIKING)[0] == pytest.approx(-STG_SPIKING[-1] * (-45.0 + 50.0))
    assert dynamics.rhs(0.0, closed, STG_SPIKING, current=2.0)[0] == pytest.approx(
        2.0 - STG_SPIKING[-1] * (-45.0 + 50.0)
    )


def test_vectorised_rhs_matches_one_neuron_at_a_time():
    dynamics = dynamics_for("da")
    rng = np.random.default_rng(2)
    g = DA_SPIKING * rng.uniform(0.5, 1.5, size=(5, 7))
    y = dynamics.initial_state(5) + rng.uniform(0.0, 0.1, size=(8, 5))
    y[0] = rng.uniform(-80, 20, size=5)
    batch = dynamics.rhs(0.0, y, g)
    for k in range(5):
        np.testing.assert_allclose(batch[:, k], dynamics.rhs(0.0, y[:, k], g[k]), rtol=1e-12)


def test_jacobian_matches_finite_differences():
    for name, g in (("stg", STG_SPIKING), ("da", DA_SPIKING)):
        dynamics = dynamics_for(name)
        y = dynamics.initial_state()
        y[0] = -40.0
        jac = dynamics.jacobian(0.0, y, g)
        numeric = np.empty_like(jac)
        for k in range(y.size):
            step = 1e-6 * max(1.0, abs(y[k]))
            up, down = y.copy(), y.copy()
            up[k] += step
            down[k] -= step
            numeric[:, k] = (dynamics.rhs(0.0, up, g) - dynamics.rhs(0.0, down, g)) / (2 * step)
        np.testing.assert_allclose(jac, numeric, rtol=1e-4, atol=1e-6)


def test_time_constant_floor_removes_the_da_sodium_singularity():
    # the published tau_m of DA sodium is negative in a ~0.003 mV window near -38.726 mV
    dynamics = dynamics_for("da")
    voltage = np.linspace(-38.7275, -38.7240, 2001)
    v = voltage
    raw_tau = 0.01 + 1 / (-(15.6504 + 0.4043 * v) / (np.exp(-19.565 - 0.5052 * v) - 1) + 3.0212 * np.exp(-0.007463 * v))
    assert np.any(raw_tau < 0)
    y = dynamics.initial_state(voltage.size)
    y[0] = voltage
    rate = dynamics.rhs(0.0, y, np.broadcast_to(DA_SPIKING, (voltage.size, 7)))[dynamics.index("Na_m")]
    m_inf = 1 / (1 + np.exp(-(voltage + 30.0907) / 9.7264))
    tau = (m_inf - y[1]) / rate
    assert np.all(np.isfinite(rate))
    assert np.all(tau >= MIN_TIME_CONSTANT * (1 - 1e-9))


def test_detect_spikes_rule_of_science_md_section_3():
    t = np.arange(12.0)
    # up above +10 (t=1), dips to 5 (still above 0: same spike), falls below 0 (t=4),
    # second spike at t=6 falls back at t=8, third at t=10 never falls back: dropped
    v = np.array([-60, 20, 5, 15, -10, -50, 30, 12, -5, -40, 25, 22], dtype=float)
    np.testing.assert_array_equal(detect_spikes(t, v), [1.0, 6.0])
    assert detect_spikes(t, np.full(12, -60.0)).size == 0
    with pytest.raises(ValueError, match="1-D of equal length"):
        detect_spikes(t, v[:5])


def test_reference_solver_events_agree_with_sampled_detection():
    exact = solve_reference("stg", STG_SPIKING, duration=0.5, transient=0.25, rtol=1e-6, atol=1e-8)
    sampled = solve_reference(
        "stg", STG_SPIKING, duration=0.5, transient=0.25, rtol=1e-6, atol=1e-8, sample_dt=2e-5
    )
    assert exact.spike_times.size == sampled.spike_times.size > 0
    np.testing.assert_allclose(sampled.spike_times, exact.spike_times, atol=2.5e-5)
    assert np.all(exact.spike_times >= 0)
    assert np.all(exact.spike_times <= 0.25)
    assert sampled.voltage.max() > 10.0
    with pytest.raises(ValueError, match="transient < duration"):
        solve_reference("stg", STG_SPIKING, duration=0.5, transient=0.5)
    with pytest.raises(ValueError, match="shape"):
        solve_reference("stg", STG_SPIKING[:3], duration=0.5, transient=0.1)
