"""The model card of the shipped DIC networks, rendered from their JSON cards.

``docs/model_card.md`` is the output of :func:`render_model_card` (``nwb-dicpop model-card -o
docs/model_card.md``); a test keeps the two in sync, so every figure in the document is the one
stored beside the weights by the commands that trained and evaluated them.  The accuracy
targets and the original study's figures shown beside them come from each model's declaration
(``model.evaluation.accuracy_targets`` and ``.reference_metrics``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nwb_dicpop.models import EvaluationSettings, available_models, get_model

__all__ = ["render_model_card"]

_CLEAN_ROWS = (
    ("n_trains", "trains evaluated (non-silent)", "{:,}"),
    ("mae_g_s", "MAE g_s", "{:.3f}"),
    ("mae_g_u", "MAE g_u", "{:.3f}"),
    ("mae_g_s_spiking", "MAE g_s, spiking trains", "{:.3f}"),
    ("mae_g_u_spiking", "MAE g_u, spiking trains", "{:.3f}"),
    ("mae_g_s_bursting", "MAE g_s, bursting trains", "{:.3f}"),
    ("mae_g_u_bursting", "MAE g_u, bursting trains", "{:.3f}"),
    ("class_accuracy", "spiking/bursting accuracy", "{:.4f}"),
    ("coverage90_g_s", "coverage of nominal 90 % intervals, g_s", "{:.3f}"),
    ("coverage90_g_u", "coverage of nominal 90 % intervals, g_u", "{:.3f}"),
    ("ood_fraction", "flagged out of distribution", "{:.4f}"),
)


def _fmt(template: str, value: Any) -> str:
    if value is None:
        return "-"
    try:
        return template.format(value)
    except (ValueError, TypeError):
        return str(value)


def _evaluation_settings(model: str) -> EvaluationSettings:
    """The evaluation settings of a registered model; none for a card of an unregistered one."""
    if model in available_models():
        return get_model(model).evaluation
    return EvaluationSettings()


def _metrics_table(report: dict[str, Any], model: str) -> list[str]:
    clean = report.get("clean", report)
    evaluation = _evaluation_settings(model)
    targets = evaluation.accuracy_targets
    original = evaluation.reference_metrics
    lines = ["| metric | value | target (issue 4) | original study |", "|---|---|---|---|"]
    for key, label, template in _CLEAN_ROWS:
        if key not in clean:
            continue
        target = targets.get(key)
        if key.startswith("coverage90"):
            target_text = "0.85 - 0.95"
        elif target is None:
            target_text = "-"
        else:
            target_text = ("<= " if key.startswith("mae") else ">= ") + f"{target:g}"
        lines.append(f"| {label} | {_fmt(template, clean[key])} | {target_text} | {_fmt('{:g}', original.get(key))} |")
    return lines


def _robustness_table(report: dict[str, Any]) -> list[str]:
    rows = [(name, value) for name, value in report.items()
            if isinstance(value, dict) and "mae_g_s" in value and name != "clean"]
    if not rows:
        return []
    lines = ["| condition | MAE g_s | MAE g_u | accuracy | coverage g_s / g_u | out of distribution |",
             "|---|---|---|---|---|---|"]
    for name, value in [("clean", report["clean"]), *rows]:
        lines.append(
            f"| {name} | {value['mae_g_s']:.3f} | {value['mae_g_u']:.3f} | {value['class_accuracy']:.4f} | "
            f"{value['coverage90_g_s']:.3f} / {value['coverage90_g_u']:.3f} | {value['ood_fraction']:.4f} |"
        )
    return lines


def _poisson_table(poisson: dict[str, Any]) -> list[str]:
    if not poisson:
        return []
    lines = ["| Poisson rate | trains | out of distribution | called bursting | mean g_s | mean g_u |",
             "|---|---|---|---|---|---|"]
    for rate, value in poisson.items():
        lines.append(f"| {rate} | {value['n_trains']} | {value['ood_fraction']:.3f} | {value['bursting_fraction']:.3f} | "
                     f"{value['mean_g_s']:.2f} | {value['mean_g_u']:.2f} |")
    return lines


def _commands(card: dict[str, Any]) -> list[str]:
    data = card.get("data", {})
    training = card.get("training", {})
    config = training.get("config", {})
    lines = []
    for path, manifest in zip(data.get("paths", []), data.get("generation", []), strict=False):
        if not manifest:
            continue
        noise = f" --noise-sigma {manifest['noise_sigma']:g}" if manifest.get("noise_sigma") else ""
        lines.append(
            f"nwb-dicpop make-training-data --model {manifest['model']} -o {path} --n-targets {manifest['n_targets']} "
            f"--n-per-target {manifest['n_per_target']} --chunk-size {manifest['chunk_size']} --seed {manifest['seed']}"
            f"{noise}"
        )
    data_args = " ".join(f"--data {p}" for p in data.get("paths", []))
    extra = f" --n-chunks {data['n_chunks']}" if data.get("n_chunks") else ""
    if card.get("initialised_from"):
        extra += f" --init-weights nwb_dicpop/inference/weights/{card['initialised_from']}.json"
    if config.get("max_minutes"):
        extra += f" --max-minutes {config['max_minutes']:g}"
    lines.append(
        f"nwb-dicpop train --model {card['model']} {data_args} -o weights/{card['version']} "
        f"--epochs {config.get('epochs', '?')} --seed {training.get('seed', 0)} --threads {training.get('torch_threads', 1)}"
        f"{extra}"
    )
    return lines


def _simulated_seconds(manifest: dict[str, Any]) -> float:
    """Total simulated time of a training-data manifest: version 1 stored it as ``duration``;
    later versions store the recorded window there, after the transient."""
    if manifest.get("format_version", 1) == 1:
        return float(manifest["duration"])
    return float(manifest["transient"]) + float(manifest["duration"])


def _section(card: dict[str, Any], weights_dir: Path) -> list[str]:
    model = card["model"]
    data = card.get("data", {})
    training = card.get("training", {})
    hardware = card.get("hardware", {})
    config = training.get("config", {})
    pt = weights_dir / card.get("weights_file", f"{card['version']}.pt")
    size = pt.stat().st_size if pt.is_file() else None
    out = [f"## {card['version']} ({model.upper()} model)", ""]
    out += [
        "| item | value |", "|---|---|",
        f"| threshold V_th | {card.get('threshold')} mV |",
        f"| parameters | {card.get('n_parameters', 0):,} |",
        f"| architecture | {', '.join(f'{k}={v}' for k, v in sorted(card.get('architecture', {}).items()))} |",
        f"| spikes read per train (cap) | {card.get('max_spikes')} |",
        f"| weights file | `{pt.name}`, {size / 1024:.0f} KiB, sha256 `{card.get('sha256', '')[:16]}...` |"
        if size else f"| weights file | `{pt.name}` |",
        f"| initialised from | {card.get('initialised_from') or 'random (seeded)'} |",
        (f"| training trains | {data.get('n_trains', 0):,} of {data.get('duration', 0):g} s "
        f"({training.get('n_train', 0):,} train / {training.get('n_validation', 0):,} validation, "
        f"{training.get('n_populations', 0):,} populations) |"),
        (f"| training | {training.get('epochs_run')} epochs (best {training.get('best_epoch')}), "
        f"{training.get('minutes')} min, batch {config.get('batch_size')}, lr {config.get('learning_rate')}, "
        f"loss {config.get('loss')}, seed {training.get('seed')} |"),
        (f"| hardware | {hardware.get('cpu_count', '?')}-core {hardware.get('processor', '?')} CPU, "
        f"{training.get('torch_threads', '?')} torch thread(s), torch {card.get('torch_version', '?')} |"),
        "",
    ]
    generation = [m for m in data.get("generation", []) if m]
    if generation:
        out.append("Training data (science.md 7 protocol):")
        out.append("")
        for path, manifest in zip(data.get("paths", []), data.get("generation", []), strict=False):
            if manifest:
                chunks = f", first {data['n_chunks']} chunks" if data.get("n_chunks") else ""
                out.append(
                    f"- `{path}`: {manifest['n_targets']:,} targets x {manifest['n_per_target']} members, seed "
                    f"{manifest['seed']}, {_simulated_seconds(manifest):g} s simulated with {manifest['transient']:g} s "
                    f"transient, noise sigma {manifest['noise_sigma']:g} uA/cm^2{chunks}"
                )
        out.append("")
    out += ["Reproduce:", "", "```bash", *_commands(card), "```", ""]
    run, planned = training.get("epochs_run"), config.get("epochs")
    if config.get("max_minutes") and run is not None and planned is not None and run < planned:
        out += [
            (f"The {config['max_minutes']:g}-minute budget ended training after {run} of the {planned} planned "
             "epochs. On a faster machine the same command runs more epochs and gives slightly different "
             "weights; the card's `history` lists the loss and MAE of every epoch."),
            "",
        ]
    for name, report in sorted(card.get("evaluation", {}).items()):
        out += [f"### Evaluation on `{name}`", ""]
        if isinstance(report, dict) and "command" in report:
            out += [f"Measured by `{report['command']}`.", ""]
        out += [*_metrics_table(report, model), ""]
        robust = _robustness_table(report) if "clean" in report else []
        if robust:
            out += ["Robustness (same test trains, perturbed before inference):", "", *robust, ""]
        poisson = _poisson_table(report.get("poisson", {}))
        if poisson:
            out += ["Poisson trains (not in the training distribution):", "", *poisson, ""]
        e2e = report.get("end_to_end")
        if e2e:
            out += _end_to_end_lines(e2e)
    return out


_END_TO_END_ROWS = {
    "point": "inferred DICs (point estimate)",
    "sampled": "drawn from the inferred uncertainty (pipeline default)",
    "true": "the train's true DICs (no network involved)",
}


def _end_to_end_lines(e2e: dict[str, Any]) -> list[str]:
    intro = (f"End to end: {e2e['n_trains']} test trains, each turned into populations of {e2e['n_models']} "
             "members, simulated with Brian2 and validated against the input train (issue 4 target: >= 0.9 "
             f"of members valid on average); {e2e['n_failed']} trains got no population.")
    variants = [v for v in _END_TO_END_ROWS if f"mean_valid_fraction_{v}" in e2e]
    if not variants:  # cards recorded before the variants existed: members drawn from the uncertainty
        e2e = {**e2e, **{k.replace("mean_valid_fraction", "mean_valid_fraction_sampled"): v
                         for k, v in e2e.items() if k.startswith("mean_valid_fraction")}}
        variants = ["sampled"]
    rows = [
        (f"| {_END_TO_END_ROWS[v]} | {e2e[f'mean_valid_fraction_{v}']:.3f} | "
         f"{e2e[f'mean_valid_fraction_{v}_spiking']:.3f} | {e2e[f'mean_valid_fraction_{v}_bursting']:.3f} |")
        for v in variants
    ]
    lines = [intro, "", "| member targets | valid | spiking | bursting |", "|---|---|---|---|", *rows, ""]
    if "true" in variants:
        lines += [
            ("The true-DIC row measures how well the DICs alone pin down a train under the validation "
             "rule: a population built at a train's own DICs holds members that fire differently from "
             "that train, because the DICs at threshold do not fix every burst statistic. Where the "
             "point estimate beats it, the network has picked DICs nearer the middle of the train's "
             "firing regime."),
            "",
        ]
    return lines


def render_model_card(weights_dir: str | Path | None = None) -> str:
    """Markdown model card of every network in ``weights_dir`` (default: the shipped ones)."""
    from nwb_dicpop.inference.predict import weights_dir as shipped_weights_dir

    folder = Path(weights_dir) if weights_dir is not None else shipped_weights_dir()
    cards = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    lines = [
        "# Model card: the shipped DIC networks",
        "",
        "<!-- generated by `nwb-dicpop model-card -o docs/model_card.md` from the JSON cards in",
        "     nwb_dicpop/inference/weights/; do not edit by hand (tests/test_inference_shipped.py checks it) -->",
        "",
        ("Each network maps one spike train (times in seconds) to the slow and ultraslow DICs "
        "`(g_s, g_u)` at its model's threshold, a Gaussian standard deviation for each (calibrated "
        "on held-out populations), spiking/bursting probabilities and an out-of-distribution flag "
        "(Mahalanobis distance of the pooled features, plus the rate, spike-count and ISI-CV "
        "support of the training data). Trains are simulated with Brian2 by this package "
        "(`nwb-dicpop make-training-data`); test sets use other seeds than training. "
        "Accuracy is measured against each member's actual DICs."),
        "",
        ("A tonic train carries little more than its rate, so on spiking trains no estimator robust "
         "to spike jitter can beat the median DICs of trains with that rate. "
         "[`identifiability.md`](identifiability.md) measures that floor with "
         "`benchmarks/bench_identifiability.py` and compares each network with it."),
        "",
    ]
    for card in cards:
        lines += _section(card, folder)
    return "\n".join(lines).rstrip() + "\n"
