"""A textbook model declared only in the tests: Hodgkin-Huxley with an M-type potassium
current (Pospischil et al. 2008, regular-spiking cortical neuron, V_T = -56.2 mV).

It shows that a third model works with the DIC, threshold and compensation code unchanged.
"""

from __future__ import annotations

from nwb_dicpop.models import Current, Gate, NeuronModel, SpikingBaseRecipe

VT = -56.2


def _rates_inf(alpha: str, beta: str) -> tuple[str, str]:
    return f"({alpha})/(({alpha}) + ({beta}))", f"1/(({alpha}) + ({beta}))"


M_INF, M_TAU = _rates_inf(
    f"-0.32*(V - ({VT}) - 13)/(exp(-(V - ({VT}) - 13)/4) - 1)",
    f"0.28*(V - ({VT}) - 40)/(exp((V - ({VT}) - 40)/5) - 1)",
)
H_INF, H_TAU = _rates_inf(f"0.128*exp(-(V - ({VT}) - 17)/18)", f"4/(1 + exp(-(V - ({VT}) - 40)/5))")
N_INF, N_TAU = _rates_inf(
    f"-0.032*(V - ({VT}) - 15)/(exp(-(V - ({VT}) - 15)/5) - 1)",
    f"0.5*exp(-(V - ({VT}) - 10)/40)",
)

# the reference cell of Pospischil et al. (mS/cm^2): Na, K, M, leak
REFERENCE = [50.0, 5.0, 0.07, 0.1]


def make_hh(base_targets: tuple[float, float, float]) -> NeuronModel:
    """Declare the model; ``base_targets`` are the (g_f, g_s, g_u) of its spiking base."""
    g_f, g_s, g_u = base_targets
    return NeuronModel(
        name="hh-m",
        description="Hodgkin-Huxley with M current (Pospischil et al. 2008)",
        currents=(
            Current("Na", 50.0, (Gate("m", M_INF, M_TAU, exponent=3), Gate("h", H_INF, H_TAU))),
            Current("K", -90.0, (Gate("n", N_INF, N_TAU, exponent=4),)),
            Current(
                "M",
                -90.0,
                (
                    Gate(
                        "p",
                        "1/(1 + exp(-(V + 35)/10))",
                        "1000/(3.3*exp((V + 35)/20) + exp(-(V + 35)/20))",
                    ),
                ),
            ),
            Current("leak", -70.0),
        ),
        leak="leak",
        threshold=-51.0,
        reference_timescales=("Na.m", "K.n", 1000.0),
        initial_voltage=-70.0,
        voltage_limits=(-80.0, -20.0),
        conductance_limits={"Na": (0, 500), "K": (0, 100), "M": (0, 10), "leak": (1e-3, 1)},
        spiking_base=SpikingBaseRecipe(
            leak_limits=(0.08, 0.12),
            sampled={},
            compensating=("Na", "K", "M"),
            g_s=g_s,
            g_u=g_u,
            g_f_slope=0.0,
            g_f_intercept=g_f,
        ),
        compensation_rule=lambda g_s, g_u: ("K", "M"),
    )
