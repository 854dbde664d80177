"""Midbrain dopaminergic (DA) neuron: the Qian et al. (2014) variant used by Drion and Fyon.
Seven maximal conductances in the order ``Na, Kd, CaL, CaN, ERG, NMDA, leak`` (mS/cm^2); ERG
is a three-state Markov channel, NMDA has an instantaneous magnesium block ([Mg] = 1.4).
"""

from __future__ import annotations

from nwb_dicpop.models.declaration import (
    Current,
    EvaluationSettings,
    Gate,
    MarkovScheme,
    NeuronModel,
    SimulationSettings,
    SpikingBaseRecipe,
    TrainingProtocol,
)

__all__ = ["DA"]


def da_compensation_rule(g_s: float, g_u: float) -> tuple[str, str]:
    """Published choice of the two conductances re-solved for a DA target (Brandoit et al. 2025)."""
    if g_s < 0:
        return ("ERG", "CaL")
    return ("ERG", "Kd")


DA = NeuronModel(
    name="da",
    description="Dopaminergic neuron, Qian et al. 2014 variant (7 conductances, ERG, NMDA)",
    currents=(
        Current(
            "Na",
            60.0,
            (
                Gate(
                    "m",
                    "1/(1 + exp(-(V + 30.0907)/9.7264))",
                    "0.01 + 1/(-(15.6504 + 0.4043*V)/(exp(-19.565 - 0.5052*V) - 1)"
                    " + 3.0212*exp(-0.007463*V))",
                    exponent=3,
                ),
                Gate(
                    "h",
                    "1/(1 + exp((V + 54.0289)/10.7665))",
                    "0.4 + 1/(0.00050754*exp(-0.063213*V) + 9.7529*exp(0.13442*V))",
                ),
            ),
            "fast sodium",
        ),
        Current(
            "Kd",
            -85.0,
            (Gate("n", "1/(1 + exp(-(V + 25)/12))", "20 - 18/(1 + exp(-(V + 38)/10))", exponent=3),),
            "delayed-rectifier potassium",
        ),
        Current(
            "CaL",
            60.0,
            (Gate("m", "1/(1 + exp(-(V + 50)/2))", "30 - 28/(1 + exp(-(V + 45)/3))", exponent=2),),
            "L-type calcium",
        ),
        Current(
            "CaN",
            60.0,
            (Gate("m", "1/(1 + exp(-(V + 30)/7))", "30 - 25/(1 + exp(-(V + 55)/6))"),),
            "N-type calcium",
        ),
        Current(
            "ERG",
            -85.0,
            (
                Gate(
                    "o",
                    "a0*bi/(a0*(ai + bi) + b0*bi)",
                    timescale="ultraslow",
                    markov=MarkovScheme(
                        derivatives={
                            "o": "a0*(1 - o - i) + bi*i - (ai + b0)*o",
                            "i": "ai*o - bi*i",
                        },
                        initial={"o": "a0", "i": "0"},
                    ),
                ),
            ),
            "ether-a-go-go related potassium (Markov: closed, open, inactivated)",
        ),
        Current(
            "NMDA",
            0.0,
            (Gate("B", "1/(1 + 1.4*exp(-0.08*V)/10)", timescale="fast"),),
            "NMDA receptor current with instantaneous Mg2+ block",
        ),
        Current("leak", -50.0, (), "leak"),
    ),
    leak="leak",
    threshold=-55.5,
    reference_timescales=("Na.m", "Kd.n", 100.0),
    initial_voltage=-90.0,
    voltage_limits=(-90.0, 0.0),
    conductance_limits={
        "Na": (0.0, 600.0),
        "Kd": (0.0, 200.0),
        "CaL": (0.0, 1.0),
        "CaN": (0.0, 1.2),
        "ERG": (0.0, 2.5),
        "NMDA": (0.0, 2.0),
        "leak": (1e-4, 0.2),
    },
    definitions={
        "a0": "0.0036*exp(0.0759*V)",
        "b0": "1.2523e-5*exp(-0.0671*V)",
        "ai": "0.1*exp(0.1189*V)",
        "bi": "0.003*exp(-0.0733*V)",
    },
    spiking_base=SpikingBaseRecipe(
        leak_limits=(0.0087, 0.017),
        sampled={"Kd": (6.0, 10.0), "CaL": (0.015, 0.075)},
        fixed={"NMDA": 0.012},
        compensating=("Na", "CaN", "ERG"),
        g_s=0.5,
        g_u=5.0,
        g_f_slope=-3.9,
        g_f_intercept=-11.0,
    ),
    compensation_rule=da_compensation_rule,
    # neuromodulation bounds, ratios g_after / g_before (docs/neuromodulation.md): sodium is
    # rarely modulated more than a few-fold; calcium, ERG and potassium channels can be cut to
    # a few percent or raised several-fold; NMDA receptor activation can rise twenty-fold
    modulation_limits={
        "Na": (0.2, 3.0),
        "Kd": (0.1, 5.0),
        "CaL": (0.05, 10.0),
        "CaN": (0.05, 10.0),
        "ERG": (0.05, 10.0),
        "NMDA": (0.05, 20.0),
    },
    # integration chosen against scipy BDF at rtol 1e-6 (benchmarks/bench_simulation.py)
    simulation=SimulationSettings(method="rk4", dt=2.5e-5, noise_dt=5e-5),
    # the original study's training data: recorded window after a discarded transient
    training=TrainingProtocol(g_s_range=(-10.0, 15.0), g_u_range=(0.0, 20.0), duration=9.0, transient=3.0),
    evaluation=EvaluationSettings(
        accuracy_targets={"mae_g_s": 2.0, "mae_g_u": 0.9, "class_accuracy": 0.998, "mae_g_s_bursting": 1.4,
                          "mae_g_u_bursting": 0.6},
        reference_metrics={
            "mae_g_s": 2.410, "mae_g_u": 1.099, "class_accuracy": 0.9979, "mae_g_s_spiking": 2.616,
            "mae_g_u_spiking": 1.177, "mae_g_s_bursting": 1.271, "mae_g_u_bursting": 0.672,
        },
        demo_targets=((6.0, 5.0), (2.0, 8.0), (-3.0, 6.0), (-6.0, 10.0)),
    ),
)
