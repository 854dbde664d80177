"""Conductance-based neuron models, declared as data.

``get_model("stg")`` and ``get_model("da")`` return the shipped declarations;
:func:`register_model` adds a user-declared model under a new name so that every function
taking ``model=`` accepts it.
"""

from __future__ import annotations

from nwb_dicpop._validation import check_choice
from nwb_dicpop.models.declaration import (
    CalciumDynamics,
    Current,
    EvaluationSettings,
    Gate,
    MarkovScheme,
    NeuronModel,
    SimulationSettings,
    SpikingBaseRecipe,
    TrainingProtocol,
)

__all__ = [
    "CalciumDynamics",
    "Current",
    "EvaluationSettings",
    "Gate",
    "MarkovScheme",
    "NeuronModel",
    "SimulationSettings",
    "SpikingBaseRecipe",
    "TrainingProtocol",
    "available_models",
    "get_model",
    "register_model",
]

_REGISTRY: dict[str, NeuronModel] = {}


def _builtin() -> dict[str, NeuronModel]:
    if not _REGISTRY:
        from nwb_dicpop.models.da import DA
        from nwb_dicpop.models.stg import STG

        _REGISTRY.update(stg=STG, da=DA)
    return _REGISTRY


def available_models() -> tuple[str, ...]:
    """Names accepted by :func:`get_model`."""
    return tuple(_builtin())


def get_model(model: str | NeuronModel) -> NeuronModel:
    """Return the declaration for ``model`` (a registered name or a declaration itself)."""
    if isinstance(model, NeuronModel):
        return model
    check_choice("model", model, available_models())
    return _builtin()[model]


def register_model(model: NeuronModel, *, replace: bool = False) -> None:
    """Make ``model`` available by name to every function that takes ``model=``."""
    if not isinstance(model, NeuronModel):
        msg = f"`model` must be a NeuronModel declaration; got {type(model).__name__}."
        raise TypeError(msg)
    registry = _builtin()
    if model.name in registry and not replace and registry[model.name] is not model:
        msg = f"A model named {model.name!r} is already registered; pass replace=True to overwrite."
        raise ValueError(msg)
    registry[model.name] = model
