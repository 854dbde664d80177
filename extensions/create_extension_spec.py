"""Generate the ndx-dicpop NWB extension (the single source of truth for its schema).

Run ``python extensions/create_extension_spec.py`` after editing; it rewrites
``extensions/ndx-dicpop.namespace.yaml`` and ``extensions/ndx-dicpop.extensions.yaml``, which
are committed and shipped inside the wheel as ``nwb_dicpop/extensions/``.  Then regenerate the
documentation with ``python extensions/make_docs.py``.

Layout of an annotated file: everything lives in the processing module ``dicpop``::

    processing/dicpop/
        dic_estimates             DICEstimates            one row per unit
        conductance_populations   ConductancePopulations  one row per population (per unit)
        population_members        PopulationMembers       one row per member conductance set
        spike_statistics          SpikeStatistics         one row per unit
        provenance                DicpopProvenance        software, model, seeds, settings, date
        neuromodulation_analyses    NeuromodulationAnalyses    one row per analysis (per unit)
        neuromodulation_ranking     NeuromodulationRanking     one row per candidate subset and analysis
        neuromodulation_populations NeuromodulationPopulations the "before" and moved populations
        neuromodulation_members     NeuromodulationMembers     their members, one row per conductance set

Every per-unit table links to the file's ``Units`` rows through a ``units``
DynamicTableRegion; ``PopulationMembers.population`` links to ``ConductancePopulations``.
Units: DICs are dimensionless (normalised by the leak conductance), voltages mV, maximal
conductances mS/cm^2 (each conductance column says so in its ``unit`` attribute).

Versions: 0.1.0 (first release); 0.2.0 adds the optional ``network_class`` column of
DICEstimates (the network's class; ``firing_class`` there, now optional, held it in 0.1.0
files, while the class of the spike train itself is ``SpikeStatistics.firing_class``) and the
optional validation columns of ConductancePopulations (``validation_status``, ``n_simulated``,
``n_valid``, ``yield``, ``validation_duration``, ``validation_transient``); 0.3.0 adds the four
neuromodulation types (``nwb_dicpop.write_neuromodulation``: which conductances changed between
two recordings of a unit).  Files of 0.1.0 and 0.2.0 stay valid and readable.
"""

from __future__ import annotations

from pathlib import Path

from pynwb.spec import (
    NWBAttributeSpec,
    NWBDatasetSpec,
    NWBGroupSpec,
    NWBNamespaceBuilder,
    export_spec,
)

NAME = "ndx-dicpop"
VERSION = "0.3.0"
DIMENSIONLESS = "dimensionless"


def _unit_attribute(value: str | None = None, doc: str = "Unit of the values.") -> NWBAttributeSpec:
    if value is None:
        return NWBAttributeSpec(name="unit", dtype="text", doc=doc)
    return NWBAttributeSpec(name="unit", dtype="text", doc=doc, value=value)


def column(
    name: str,
    doc: str,
    dtype: str,
    *,
    unit: str | None = None,
    required: bool = True,
) -> NWBDatasetSpec:
    """A VectorData column; physical columns carry a fixed ``unit`` attribute."""
    return NWBDatasetSpec(
        name=name,
        neurodata_type_inc="VectorData",
        dtype=dtype,
        dims=["num_rows"],
        shape=[None],
        doc=doc,
        quantity=1 if required else "?",
        attributes=[_unit_attribute(unit)] if unit is not None else [],
    )


def region(name: str, doc: str) -> NWBDatasetSpec:
    """A DynamicTableRegion column (row indices into another table)."""
    return NWBDatasetSpec(name=name, neurodata_type_inc="DynamicTableRegion", doc=doc)


def main(out_dir: Path | None = None) -> None:
    """Build the namespace and write the two YAML files into ``out_dir`` (default: here)."""
    ns_builder = NWBNamespaceBuilder(
        name=NAME,
        version=VERSION,
        doc=(
            "Dynamic input conductances (DICs) inferred from spike trains, degenerate populations "
            "of conductance-based models that reach them, per-unit spike statistics, the "
            "conductances that most plausibly changed between two recordings of a unit "
            "(neuromodulation) and the provenance of the analysis, written by the nwb_dicpop package."
        ),
        author=["nwb_dicpop developers"],
        contact=["dev@nwb-dicpop.invalid"],
    )
    ns_builder.include_namespace("core")

    conductance_column = NWBDatasetSpec(
        neurodata_type_def="ConductanceColumn",
        neurodata_type_inc="VectorData",
        dtype="float64",
        dims=["num_rows"],
        shape=[None],
        doc=(
            "Maximal conductance of one ionic current of a conductance-based model, one value per "
            "row (per population member). Columns of this type are named 'g_<current>'."
        ),
        attributes=[
            _unit_attribute(doc="Unit of the conductance values, 'mS/cm^2' for the shipped models."),
            NWBAttributeSpec(name="current", dtype="text", doc="Name of the current in the model (e.g. 'Na')."),
        ],
    )

    dic_estimates = NWBGroupSpec(
        neurodata_type_def="DICEstimates",
        neurodata_type_inc="DynamicTable",
        default_name="dic_estimates",
        doc=(
            "Dynamic input conductances (DICs) of each unit at the model's threshold voltage V_th, "
            "inferred from its spike train. g_f, g_s and g_u are the fast, slow and ultraslow DICs "
            "(Drion et al. 2015), dimensionless (normalised by the leak conductance). NaN where no "
            "estimate was made (see 'status')."
        ),
        attributes=[
            NWBAttributeSpec(name="model_name", dtype="text", doc="Conductance-based model the DICs refer to ('stg', 'da')."),
            NWBAttributeSpec(
                name="network_version",
                dtype="text",
                doc="Version of the inference network (weights) that produced the estimates; empty if none.",
            ),
        ],
        datasets=[
            region("units", "Row of the file's Units table each estimate belongs to."),
            column("g_f", "Fast DIC at V_th, when the network infers it (absent otherwise; the mean g_f of a "
                   "unit's population members is in PopulationMembers.dic_g_f).", "float64",
                   unit=DIMENSIONLESS, required=False),
            column("g_s", "Slow DIC at V_th.", "float64", unit=DIMENSIONLESS),
            column("g_u", "Ultraslow DIC at V_th.", "float64", unit=DIMENSIONLESS),
            column("g_f_std", "One-sigma uncertainty of g_f.", "float64", unit=DIMENSIONLESS, required=False),
            column("g_s_std", "One-sigma uncertainty of g_s.", "float64", unit=DIMENSIONLESS),
            column("g_u_std", "One-sigma uncertainty of g_u.", "float64", unit=DIMENSIONLESS),
            column("threshold", "Threshold voltage V_th at which the DICs are defined.", "float64", unit="mV"),
            column("firing_class", "Files of version 0.1.0 only: the network's firing class (now network_class). "
                   "The class of the spike train by the ISI-CV rule is SpikeStatistics.firing_class.", "text",
                   required=False),
            column("network_class", "Firing class predicted by the network from the spike train: 'spiking' or "
                   "'bursting' ('silent' below 3 spikes). It can differ from the ISI-CV rule of "
                   "SpikeStatistics.firing_class.", "text", required=False),
            column(
                "out_of_distribution",
                "True where the spike train lies outside the training support of the network.",
                "bool",
            ),
            column("status", "'ok', or the reason no estimate was made ('silent', 'too few spikes', ...).", "text"),
        ],
    )

    populations = NWBGroupSpec(
        neurodata_type_def="ConductancePopulations",
        neurodata_type_inc="DynamicTable",
        default_name="conductance_populations",
        doc=(
            "Degenerate populations of conductance-based models, one row per population: the "
            "(g_s, g_u) target it was generated for (usually one unit's DICs), the compensating "
            "set of conductances re-solved to reach it, and how it was generated. Its members "
            "are the rows of PopulationMembers that point to it."
        ),
        attributes=[
            NWBAttributeSpec(name="model_name", dtype="text", doc="Conductance-based model of every population."),
        ],
        datasets=[
            region("units", "Row of the file's Units table whose DICs the population targets."),
            column("target_g_s", "Requested slow DIC g_s at the reference threshold.", "float64", unit=DIMENSIONLESS),
            column("target_g_u", "Requested ultraslow DIC g_u at the reference threshold.", "float64",
                   unit=DIMENSIONLESS),
            column("target_g_s_std", "Uncertainty of the g_s target (0 for an exact target).", "float64",
                   unit=DIMENSIONLESS),
            column("target_g_u_std", "Uncertainty of the g_u target (0 for an exact target).", "float64",
                   unit=DIMENSIONLESS),
            column("reference_threshold", "The model's threshold voltage V_th at which targets are set.", "float64",
                   unit="mV"),
            NWBDatasetSpec(
                name="compensating_set",
                neurodata_type_inc="VectorData",
                dtype="text",
                dims=["num_names"],
                shape=[None],
                doc="Names of the conductances re-solved to reach the target (ragged: one list per row).",
            ),
            NWBDatasetSpec(
                name="compensating_set_index",
                neurodata_type_inc="VectorIndex",
                doc="Index into compensating_set (one list of names per population).",
            ),
            column("n_iterations", "Solves of the calcium fixed-point iteration (1 when not needed).", "int64"),
            column("n_rejected", "Members drawn and rejected before the population was complete.", "int64"),
            column("seed", "Integer seed the population was generated from; -1 when none was recorded.", "int64"),
            column("validation_status", "When the members were validated: 'ok' (every requested member reproduces "
                   "the unit's train) or 'partial' (the validation budget ran out; the valid members found are "
                   "kept).", "text", required=False),
            column("n_simulated", "Members simulated to find the population's valid members, all rounds together.",
                   "int64", required=False),
            column("n_valid", "Simulated members that reproduced the unit's train (the first ones are kept).",
                   "int64", required=False),
            column("yield", "n_valid / n_simulated: fraction of the drawn members that reproduce the train.",
                   "float64", unit=DIMENSIONLESS, required=False),
            column("validation_duration", "Recorded window of each member's validation simulation.", "float64",
                   unit="s", required=False),
            column("validation_transient", "Simulated time discarded before the recorded window.", "float64",
                   unit="s", required=False),
        ],
    )

    members = NWBGroupSpec(
        neurodata_type_def="PopulationMembers",
        neurodata_type_inc="DynamicTable",
        default_name="population_members",
        doc=(
            "Members of the degenerate populations, one row per conductance set. Besides the fixed "
            "columns below, the table has one ConductanceColumn 'g_<current>' per maximal "
            "conductance of the model (in the order of the model's currents) and, when the "
            "members were simulated, optional 'validation_<name>' columns (validation outcome and "
            "key firing statistics of the simulated member; NaN for members not simulated)."
        ),
        datasets=[
            region("population", "Row of ConductancePopulations the member belongs to."),
            region("units", "Row of the file's Units table the member's population targets."),
            column("member", "Index of the member within its population (0-based).", "int64"),
            column("dic_g_f", "Fast DIC of the member at the reference threshold.", "float64", unit=DIMENSIONLESS),
            column("dic_g_s", "Slow DIC of the member at the reference threshold.", "float64", unit=DIMENSIONLESS),
            column("dic_g_u", "Ultraslow DIC of the member at the reference threshold.", "float64",
                   unit=DIMENSIONLESS),
            column("threshold", "The member's own threshold voltage (NaN where it has none).", "float64", unit="mV"),
            column("target_g_s", "g_s target of this member (differs from the population's when sampled).",
                   "float64", unit=DIMENSIONLESS),
            column("target_g_u", "g_u target of this member.", "float64", unit=DIMENSIONLESS),
            column("residual", "|(g_s, g_u)(V_th) - target| of the member after compensation.", "float64",
                   unit=DIMENSIONLESS),
        ],
    )

    statistics = NWBGroupSpec(
        neurodata_type_def="SpikeStatistics",
        neurodata_type_inc="DynamicTable",
        default_name="spike_statistics",
        doc=(
            "Statistics of each unit's spike train (firing rate, inter-spike-interval statistics, "
            "burst measures, ...), one row per unit, one column per statistic as computed by "
            "nwb_dicpop.compute_spike_statistics; each column's description names the statistic "
            "and its unit."
        ),
        datasets=[region("units", "Row of the file's Units table the statistics describe.")],
    )

    provenance = NWBGroupSpec(
        neurodata_type_def="DicpopProvenance",
        neurodata_type_inc="NWBDataInterface",
        default_name="provenance",
        doc="How the dicpop results of this file were produced.",
        attributes=[
            NWBAttributeSpec(name="software", dtype="text", doc="Name of the software, 'nwb_dicpop'."),
            NWBAttributeSpec(name="software_version", dtype="text", doc="Version of the software."),
            NWBAttributeSpec(name="date", dtype="isodatetime", doc="When the results were written (ISO 8601)."),
        ],
        datasets=[
            NWBDatasetSpec(
                name="model_declaration",
                dtype="text",
                doc=(
                    "JSON text of the conductance-based model declaration(s) used: currents, gates "
                    "(expressions of V in mV, time constants in ms), calcium dynamics, threshold."
                ),
                quantity="?",
            ),
            NWBDatasetSpec(name="seeds", dtype="text", doc="JSON text of the random seeds used, by stage.", quantity="?"),
            NWBDatasetSpec(name="settings", dtype="text", doc="JSON text of the analysis settings.", quantity="?"),
        ],
    )

    new_types = [conductance_column, dic_estimates, populations, members, statistics, provenance,
                 *neuromodulation_types()]
    export_spec(ns_builder, new_types, str(out_dir or Path(__file__).resolve().parent))


def _dic_columns(which: str) -> list[NWBDatasetSpec]:
    """The DIC estimate of one side ("before" or "after") of a neuromodulation analysis."""
    return [
        column(f"{which}_g_f", f"Fast DIC g_f of the {which!r} train at V_th (NaN when not inferred).", "float64",
               unit=DIMENSIONLESS),
        column(f"{which}_g_s", f"Slow DIC g_s inferred from the {which!r} train (or given).", "float64",
               unit=DIMENSIONLESS),
        column(f"{which}_g_u", f"Ultraslow DIC g_u of the {which!r} train.", "float64", unit=DIMENSIONLESS),
        column(f"{which}_g_s_std", f"One-sigma uncertainty of {which}_g_s.", "float64", unit=DIMENSIONLESS),
        column(f"{which}_g_u_std", f"One-sigma uncertainty of {which}_g_u.", "float64", unit=DIMENSIONLESS),
        column(f"{which}_network_class", f"Firing class the network predicts for the {which!r} train.", "text"),
        column(f"{which}_status", f"'ok', or why the {which!r} estimate is unusable.", "text"),
        column(f"{which}_out_of_distribution", f"True when the {which!r} train lies outside the network's "
               "training support.", "bool"),
        column(f"{which}_n_spikes", f"Spikes the network read in the {which!r} train (-1: not recorded).", "int64"),
        column(f"{which}_t_start", f"Start of the {which!r} window (NaN when DICs were given instead of a train).",
               "float64", unit="s"),
        column(f"{which}_t_stop", f"End of the {which!r} window (NaN when DICs were given).", "float64", unit="s"),
        column(f"{which}_statistics", f"Spike statistics of the {which!r} train, as JSON text: a list of "
               "[name, value] pairs (null for NaN; '[]' when DICs were given).", "text"),
    ]


def neuromodulation_types() -> list[NWBGroupSpec]:
    """The 0.3.0 types: a neuromodulation analysis, its ranking and its populations."""
    analyses = NWBGroupSpec(
        neurodata_type_def="NeuromodulationAnalyses",
        neurodata_type_inc="DynamicTable",
        default_name="neuromodulation_analyses",
        doc=(
            "Neuromodulation analyses, one row per analysis of one unit: which subsets of maximal "
            "conductances most plausibly changed between a 'before' and an 'after' spike train "
            "(nwb_dicpop.analyze_neuromodulation). Holds the DICs inferred from both trains, their "
            "windows, whether a change is detectable and why, the score of 'no change', and the "
            "settings. The ranked subsets are the rows of NeuromodulationRanking that point to it."
        ),
        datasets=[
            region("units", "Row of the file's Units table of the unit analysed."),
            column("model_name", "Conductance-based model of the analysis ('stg', 'da').", "text"),
            column("network_version", "Version of the network that inferred the DICs ('' if given).", "text"),
            column("threshold", "Threshold voltage V_th at which the DICs are defined.", "float64", unit="mV"),
            *_dic_columns("before"),
            *_dic_columns("after"),
            column("detectable", "True when a change is detected and at most a few subsets (settings "
                   "'max_first_rank') share the first rank.", "bool"),
            column("change_detected", "True when the best subset beats 'no change' by the detection threshold, "
                   "attributable or not.", "bool"),
            column("reason", "Why the change is (not) detectable, with the numbers.", "text"),
            column("no_change_log_evidence", "Score of 'no change' (the ranking's log_evidence scale).", "float64"),
            column("no_change_log_evidence_dic", "DIC part of the score of 'no change'.", "float64"),
            column("no_change_agreement", "Agreement of unmodulated members with the recorded change of firing "
                   "(NaN without simulation).", "float64", unit=DIMENSIONLESS),
            column("no_change_reproduced_fraction", "Fraction of unmodulated members that reproduce the 'after' "
                   "train (NaN without simulation).", "float64", unit=DIMENSIONLESS),
            column("bound_notes", "JSON list of remarks: where a modulation limit decides, and other notes.", "text"),
            column("settings", "Every setting and constant of the analysis (seed, n_models, candidates, "
                   "modulation limits, validate, ...), as JSON text: a list of [name, value] pairs (a mapping value, "
                   "such as the modulation limits, likewise).", "text"),
        ],
    )
    ranking = NWBGroupSpec(
        neurodata_type_def="NeuromodulationRanking",
        neurodata_type_inc="DynamicTable",
        default_name="neuromodulation_ranking",
        doc=(
            "The candidate subsets of each neuromodulation analysis, most plausible first, one row per "
            "subset and analysis. Tied subsets share a rank; rank -1 on every row of an analysis whose "
            "change is not detectable."
        ),
        datasets=[
            region("analysis", "Row of NeuromodulationAnalyses the subset was ranked in."),
            region("units", "Row of the file's Units table of the unit analysed."),
            column("subset", "Conductances of the subset, names joined by '+' in the model's order (e.g. 'A+H').",
                   "text"),
            column("size", "Number of conductances in the subset.", "int64"),
            column("rank", "Competition rank (1 is the most plausible; tied subsets share a rank); -1 when the "
                   "change is not detectable.", "int64"),
            column("cost", "Posterior mean of the summed |ln(g_after / g_before)| of the changed conductances "
                   "(NaN when no move is feasible).", "float64", unit=DIMENSIONLESS),
            column("feasible_fraction", "Fraction of the moves (or members) that reach the 'after' DICs within "
                   "the modulation limits.", "float64", unit=DIMENSIONLESS),
            column("log_evidence", "Score the ranking sorts by.", "float64"),
            column("log_evidence_dic", "DIC part of the score.", "float64"),
            column("log_bayes_factor", "Score against 'no change'.", "float64"),
            column("agreement", "Agreement of the simulated moved members with the recorded change of firing "
                   "(NaN for subsets not simulated).", "float64", unit=DIMENSIONLESS),
            column("reproduced_fraction", "Fraction of simulated moved members that reproduce the 'after' train "
                   "(NaN for subsets not simulated).", "float64", unit=DIMENSIONLESS),
            column("n_simulated", "Moved members simulated for the subset (0 when not simulated).", "int64"),
            column("bound_limited_fraction", "Part of the reachable cases that only the modulation limits "
                   "exclude.", "float64", unit=DIMENSIONLESS),
            column("bound_decides", "True when a modulation limit decides the subset's place.", "bool"),
            column("tie_reason", "Why the subset shares its rank ('' when it leads its rank).", "text"),
        ],
    )
    populations = NWBGroupSpec(
        neurodata_type_def="NeuromodulationPopulations",
        neurodata_type_inc="ConductancePopulations",
        default_name="neuromodulation_populations",
        doc=(
            "Populations of the neuromodulation analyses: for each analysis the degenerate population at "
            "the 'before' DICs (role 'before') and, for the leading subsets, its members moved towards the "
            "'after' DICs by changing the subset's conductances only (role 'moved'; members without a "
            "feasible move are left out). Members are rows of NeuromodulationMembers."
        ),
        datasets=[
            region("analysis", "Row of NeuromodulationAnalyses the population belongs to."),
            column("role", "'before' (the population at the 'before' DICs) or 'moved'.", "text"),
            column("subset", "The subset of the move ('' for the 'before' population).", "text"),
        ],
    )
    members = NWBGroupSpec(
        neurodata_type_def="NeuromodulationMembers",
        neurodata_type_inc="PopulationMembers",
        default_name="neuromodulation_members",
        doc=(
            "Members of NeuromodulationPopulations, one row per conductance set (its 'population' column "
            "points to NeuromodulationPopulations); the columns are those of PopulationMembers."
        ),
    )
    return [analyses, ranking, populations, members]


if __name__ == "__main__":
    main()
