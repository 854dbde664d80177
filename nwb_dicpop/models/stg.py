"""Stomatogastric ganglion (STG) neuron: Liu et al. (1998) kinetics as used by Fyon et al.
(2024) and Brandoit et al. (2025).  Eight maximal conductances in the order
``Na, Kd, CaT, CaS, KCa, A, H, leak`` (mS/cm^2), intracellular calcium with fixed E_Ca.
"""

from __future__ import annotations

from nwb_dicpop.models.declaration import (
    CalciumDynamics,
    Current,
    EvaluationSettings,
    Gate,
    NeuronModel,
    SimulationSettings,
    SpikingBaseRecipe,
    TrainingProtocol,
)

__all__ = ["STG"]


def _sig(shift: float, slope: float) -> str:
    """Boltzmann ``1 / (1 + exp((V + shift) / slope))`` as an expression string."""
    return f"1/(1 + exp((V + {shift})/{slope}))"


def stg_compensation_rule(g_s: float, g_u: float) -> tuple[str, str]:
    """Published choice of the two conductances re-solved for an STG target (Brandoit et al. 2025)."""
    if g_u < 0:
        return ("CaS", "A")
    if g_s >= 0:
        return ("A", "H")
    return ("CaS", "H")


STG = NeuronModel(
    name="stg",
    description="STG neuron, Liu et al. 1998 kinetics (8 conductances, calcium dynamics)",
    currents=(
        Current(
            "Na",
            50.0,
            (
                Gate("m", _sig(25.5, -5.29), f"1.32 - 1.26*{_sig(120.0, -25.0)}", exponent=3),
                Gate(
                    "h",
                    _sig(48.9, 5.18),
                    f"(0.67*{_sig(62.9, -10.0)})*(1.5 + {_sig(34.9, 3.6)})",
                ),
            ),
            "fast sodium",
        ),
        Current(
            "Kd",
            -80.0,
            (Gate("m", _sig(12.3, -11.8), f"7.2 - 6.4*{_sig(28.3, -19.2)}", exponent=4),),
            "delayed-rectifier potassium",
        ),
        Current(
            "CaT",
            80.0,
            (
                Gate("m", _sig(27.1, -7.2), f"21.7 - 21.3*{_sig(68.1, -20.5)}", exponent=3),
                Gate("h", _sig(32.1, 5.5), f"105 - 89.8*{_sig(55.0, -16.9)}"),
            ),
            "transient calcium",
        ),
        Current(
            "CaS",
            80.0,
            (
                Gate(
                    "m",
                    _sig(33.0, -8.1),
                    "1.4 + 7/(exp((V + 27)/10) + exp(-(V + 70)/13))",
                    exponent=3,
                ),
                Gate("h", _sig(60.0, 6.2), "60 + 150/(exp((V + 55)/9) + exp(-(V + 65)/16))"),
            ),
            "slow calcium",
        ),
        Current(
            "KCa",
            -80.0,
            (
                Gate(
                    "m",
                    f"(Ca/(Ca + 3))*{_sig(28.3, -12.6)}",
                    f"90.3 - 75.1*{_sig(46.0, -22.7)}",
                    exponent=4,
                ),
            ),
            "calcium-activated potassium",
        ),
        Current(
            "A",
            -80.0,
            (
                Gate("m", _sig(27.2, -8.7), f"11.6 - 10.4*{_sig(32.9, -15.2)}", exponent=3),
                Gate("h", _sig(56.9, 4.9), f"38.6 - 29.2*{_sig(38.9, -26.5)}"),
            ),
            "A-type potassium",
        ),
        Current(
            "H",
            -20.0,
            (Gate("m", _sig(70.0, 6.0), f"272 + 1499*{_sig(42.2, -8.73)}"),),
            "hyperpolarisation-activated cation",
        ),
        Current("leak", -50.0, (), "leak"),
    ),
    leak="leak",
    threshold=-51.0,
    reference_timescales=("Na.m", "Kd.m", "H.m"),
    initial_voltage=-70.0,
    voltage_limits=(-80.0, 0.0),
    conductance_limits={
        "Na": (0.0, 5e4),
        "Kd": (0.0, 2e3),
        "CaT": (0.0, 200.0),
        "CaS": (0.0, 500.0),
        "KCa": (0.0, 2e3),
        "A": (0.0, 5e3),
        "H": (0.0, 10.0),
        "leak": (1e-4, 0.1),
    },
    calcium=CalciumDynamics(
        currents=("CaT", "CaS"), alpha=0.94, beta=0.05, time_constant=20.0, initial=0.5
    ),
    spiking_base=SpikingBaseRecipe(
        leak_limits=(0.007, 0.014),
        sampled={"Kd": (70.0, 140.0), "CaT": (3.0, 7.0), "CaS": (6.0, 22.0), "KCa": (140.0, 180.0)},
        compensating=("Na", "A", "H"),
        g_s=4.0,
        g_u=5.0,
        g_f_slope=-1.0,
        g_f_intercept=-2.2,
    ),
    compensation_rule=stg_compensation_rule,
    # neuromodulation bounds, ratios g_after / g_before (docs/neuromodulation.md): sodium is
    # rarely modulated more than a few-fold; the other channels can be cut to a few percent
    # (dopamine, 4-AP on A, Cs+ on H, Cd2+ on calcium channels) or raised several-fold
    modulation_limits={
        "Na": (0.2, 3.0),
        "Kd": (0.1, 5.0),
        "CaT": (0.05, 10.0),
        "CaS": (0.05, 10.0),
        "KCa": (0.05, 5.0),
        "A": (0.05, 5.0),
        "H": (0.05, 10.0),
    },
    # integration chosen against scipy BDF at rtol 1e-6 (tests/test_simulation.py fidelity test;
    # 0.1 ms keeps the 2 % fidelity of 0.05 ms at 1.7x the speed: docs/scaling.md)
    simulation=SimulationSettings(method="rush_larsen2", dt=1e-4, noise_dt=1e-4),
    # the original study's training data: recorded window after a discarded transient
    training=TrainingProtocol(g_s_range=(-20.0, 20.0), g_u_range=(0.0, 20.0), duration=3.0, transient=3.0),
    evaluation=EvaluationSettings(
        accuracy_targets={"mae_g_s": 2.0, "mae_g_u": 1.2, "class_accuracy": 0.998, "mae_g_s_bursting": 0.6,
                          "mae_g_u_bursting": 0.8},
        reference_metrics={
            "mae_g_s": 2.846, "mae_g_u": 1.751, "class_accuracy": 0.9984, "mae_g_s_spiking": 4.654,
            "mae_g_u_spiking": 2.296, "mae_g_s_bursting": 0.807, "mae_g_u_bursting": 1.137,
        },
        demo_targets=((8.0, 4.0), (3.0, 7.0), (-3.0, 5.0), (-8.0, 6.0), (-12.0, 10.0), (-16.0, 14.0)),
    ),
)
