"""ndx-dicpop: the NWB extension of nwb_dicpop, for pynwb alone.

Importing this package registers the ``ndx-dicpop`` namespace with pynwb and exposes one Python
class per neurodata type of the extension.  Files annotated by nwb_dicpop (their
``processing/dicpop`` module) then read back with plain pynwb, and their tables come back as
these classes::

    import ndx_dicpop
    from pynwb import NWBHDF5IO

    with NWBHDF5IO("session_dicpop.nwb", "r") as io:
        nwbfile = io.read()
        dics = nwbfile.processing["dicpop"]["dic_estimates"]      # a ndx_dicpop.DICEstimates
        print(dics.to_dataframe(index=True))                     # units: row numbers of nwbfile.units

Neither brian2 nor torch nor nwb_dicpop itself is needed.  The package can also write the types
(build them like any pynwb DynamicTable); nwb_dicpop's ``write_results`` is the writer that fills
them from an analysis.

nwb_dicpop and this package load the same schema: in one process, whichever is imported first
registers the namespace and the other reuses it, so both hand out the very same classes.  Both
refuse to run side by side when their schema versions differ.
"""

from __future__ import annotations

import importlib.resources
import re
from pathlib import Path

from pynwb import get_class, get_type_map, load_namespaces

__all__ = [
    "NAMESPACE",
    "ConductanceColumn",
    "ConductancePopulations",
    "DICEstimates",
    "DicpopProvenance",
    "NeuromodulationAnalyses",
    "NeuromodulationMembers",
    "NeuromodulationPopulations",
    "NeuromodulationRanking",
    "PopulationMembers",
    "SpikeStatistics",
    "__version__",
    "namespace_path",
]

NAMESPACE = "ndx-dicpop"
"""Name of the namespace this package registers with pynwb."""

_NAMESPACE_FILE = "ndx-dicpop.namespace.yaml"


def namespace_path() -> Path:
    """Path of the ``ndx-dicpop.namespace.yaml`` this package loads.

    The copy inside the installed package (``ndx_dicpop/spec/``), or, in an editable install
    or a checkout, the YAML at the top of the ``extensions/`` folder.

    Returns
    -------
    pathlib.Path
    """
    packaged = importlib.resources.files(__name__) / "spec" / _NAMESPACE_FILE
    if packaged.is_file():
        return Path(str(packaged))
    checkout = Path(__file__).resolve().parents[3] / _NAMESPACE_FILE  # extensions/src/pynwb/ndx_dicpop
    if checkout.is_file():
        return checkout
    msg = f"The ndx-dicpop schema is missing: neither {packaged} nor {checkout} exists. Reinstall ndx-dicpop."
    raise FileNotFoundError(msg)


def _file_version(path: Path) -> str:
    """The ``version:`` of the namespace file (read as text: no YAML library needed)."""
    found = re.search(r"^\s*version:\s*['\"]?([^'\"\s]+)", path.read_text(encoding="utf-8"), flags=re.MULTILINE)
    if found is None:
        msg = f"{path} has no 'version:' entry; reinstall ndx-dicpop."
        raise ValueError(msg)
    return found.group(1)


def _register() -> str:
    """Load the namespace unless it already is; return the schema version now registered."""
    path = namespace_path()
    own = _file_version(path)
    catalog = get_type_map().namespace_catalog
    if NAMESPACE not in catalog.namespaces:
        load_namespaces(str(path))
        return own
    loaded = str(catalog.get_namespace(NAMESPACE)["version"])
    if loaded != own:
        msg = (
            f"ndx-dicpop {loaded} is already loaded in this process (by nwb_dicpop or another import), "
            f"but this ndx_dicpop package holds version {own}. Install the ndx-dicpop of the same checkout "
            "or release as nwb_dicpop (pip install ./extensions), or use one of the two only."
        )
        raise ImportError(msg)
    return loaded


__version__ = _register()
"""Version of the package, which is the version of the schema it loads."""

ConductanceColumn = get_class("ConductanceColumn", NAMESPACE)
DICEstimates = get_class("DICEstimates", NAMESPACE)
ConductancePopulations = get_class("ConductancePopulations", NAMESPACE)
PopulationMembers = get_class("PopulationMembers", NAMESPACE)
SpikeStatistics = get_class("SpikeStatistics", NAMESPACE)
DicpopProvenance = get_class("DicpopProvenance", NAMESPACE)
NeuromodulationAnalyses = get_class("NeuromodulationAnalyses", NAMESPACE)
NeuromodulationRanking = get_class("NeuromodulationRanking", NAMESPACE)
NeuromodulationPopulations = get_class("NeuromodulationPopulations", NAMESPACE)
NeuromodulationMembers = get_class("NeuromodulationMembers", NAMESPACE)
