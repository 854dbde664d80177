"""Benchmark: how much of (g_s, g_u) do spike times carry?  The network against nearest neighbours.

A tonic ("spiking") train simulated without noise is periodic: after the transient its ISIs
agree to a few parts in 10,000 (the script prints the quantiles).  Such a train is fixed by two
numbers, its rate and the phase of its first spike, and the phase says nothing about the
neuron (it depends on where the recording starts).  Any estimator that survives a millisecond
of spike jitter, as issue 4 asks, is therefore a function of the rate alone for these trains,
and its error cannot go below the error of the best function of the rate: the conditional
median of the DICs given the rate.

The script estimates that floor with nearest neighbours.  For each test train it takes the k
trains of a large reference set (a generated training set, another seed) closest in log rate
(same firing class) and predicts the median of their DICs.  It does the same on all six
train-level summaries the network reads (rate, spike count, ISI CV, short and long ISI, long
fraction), a stronger baseline for bursting trains.  It prints the MAE of the shipped network
(on the clean test trains and with a 1 ms Gaussian jitter), of both baselines and the ratio of
the network to the best rate baseline, per firing class, and the lowest overall MAE the rate floor
allows (spiking share x spiking floor, counting bursting trains as error-free).

Run:  python benchmarks/bench_identifiability.py --model stg --reference data/stg-train-s10
      [--test tests/data/stg-test-v1.npz] [--weights FILE.json] [--k 8 32 128] [--record]
The reference set may be a generation still running (its finished chunks are used).
``--record`` stores the per-class figures and the ratios in the network's JSON card under
``identifiability`` (``nwb-dicpop model-card`` shows them beside the targets).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
from scipy.spatial import cKDTree

from nwb_dicpop.inference.data import TrainingSet, load_training_data
from nwb_dicpop.inference.evaluation import evaluate_network, record_evaluation
from nwb_dicpop.inference.features import MIN_SPIKES, encode_spike_trains, network_inputs
from nwb_dicpop.inference.network import load_network
from nwb_dicpop.inference.predict import resolve_weights

CLASSES = {1: "spiking", 2: "bursting"}
TARGETS = {  # issue 4 (overall MAE of g_s, g_u)
    "stg": (2.0, 1.2),
    "da": (2.0, 0.9),
}


def _features(data: TrainingSet, chunk: int = 20_000) -> np.ndarray:
    """Per non-silent train (rows of silent ones: nan): the six train-level network inputs, then
    the ISI drift: log ISI CV and the relative change of the ISI over the train (least-squares
    slope x number of ISIs / mean ISI)."""
    out = np.full((len(data), 8), np.nan)
    active = np.flatnonzero((data.labels > 0) & (data.n_spikes >= MIN_SPIKES))
    for start in range(0, active.size, chunk):
        idx = active[start : start + chunk]
        out[idx, :6] = network_inputs(encode_spike_trains(data.trains(idx), max_spikes=100_000))
    out[active, 6] = np.log(out[active, 2] + 1e-9)  # column 2 is the ISI CV
    for i in active:
        isi = np.diff(data.train(i))
        order = np.arange(isi.size) - 0.5 * (isi.size - 1)
        slope = float(order @ (isi - isi.mean())) / max(float(order @ order), 1e-30)
        out[i, 7] = slope * isi.size / isi.mean()
    return out


def _knn_median(reference: np.ndarray, targets: np.ndarray, queries: np.ndarray, k: int) -> np.ndarray:
    """Median of the targets of the k nearest reference rows of each query row."""
    k = min(k, len(reference))
    _, nearest = cKDTree(reference).query(queries, k=k)
    return np.median(targets[nearest.reshape(len(queries), k)], axis=1)


def _pair(mae: np.ndarray) -> str:
    return f"{mae[0]:6.3f} /{mae[1]:6.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", choices=sorted(TARGETS), default="stg")
    parser.add_argument("--reference", required=True, nargs="+", help="generated dataset folder(s), other seed")
    parser.add_argument("--test", default=None, help="test set (default tests/data/<model>-test-v1.npz)")
    parser.add_argument("--weights", default=None, help="network card (default: newest shipped)")
    parser.add_argument("--k", type=int, nargs="+", default=[8, 32, 128])
    parser.add_argument("--jitter", type=float, default=0.001, help="spike jitter (s) of the robust column")
    parser.add_argument("--seed", type=int, default=0, help="seeds the jitter")
    parser.add_argument("--record", action="store_true", help="store the figures in the network's JSON card")
    args = parser.parse_args()

    test_path = Path(args.test or f"tests/data/{args.model}-test-v1.npz")
    start = time.perf_counter()
    if min(args.k) < 1:
        parser.error(f"--k must be positive integers; got {args.k}")
    try:
        reference = load_training_data(args.reference, allow_partial=True)
        test = load_training_data(test_path)
    except (FileNotFoundError, ValueError) as error:
        parser.error(str(error))
    if reference.model_name != args.model or test.model_name != args.model:
        parser.error(f"--reference and --test must both hold {args.model!r} trains")
    ref_x, test_x = _features(reference), _features(test)
    scale = np.nanstd(ref_x, axis=0)
    scale[scale == 0] = 1.0
    loaded = load_network(resolve_weights(args.model, args.weights))
    active = np.flatnonzero((test.labels > 0) & (test.n_spikes >= MIN_SPIKES))
    clean = evaluate_network(test, weights=loaded)
    shaken = evaluate_network(test, weights=loaded, jitter=args.jitter, rng=args.seed)
    print(
        f"{args.model}: reference {len(reference):,} trains ({int((reference.labels > 0).sum()):,} non-silent), "
        f"test {test_path.name} {active.size:,} non-silent, network {loaded.card['version']}; "
        f"features and network in {time.perf_counter() - start:.1f} s"
    )

    spiking = np.flatnonzero(test.labels == 1)
    cv = np.exp(test_x[spiking, 6])
    q = np.quantile(cv, [0.5, 0.9, 0.99])
    isi_ms = 1e3 / np.exp(np.nanmedian(test_x[spiking, 0]))
    print(
        f"spiking test trains: ISI CV median {q[0]:.1e}, 90 % {q[1]:.1e}, 99 % {q[2]:.1e}; "
        f"a {1e3 * args.jitter:g} ms jitter on their median ISI ({isi_ms:.0f} ms) alone gives a CV of about "
        f"{np.sqrt(2) * 1e3 * args.jitter / isi_ms:.1e}"
    )

    k_mid = args.k[len(args.k) // 2]
    columns = [("network", None), (f"jitter {1e3 * args.jitter:g} ms", None)]
    columns += [(f"rate k={k}", ([0], k)) for k in args.k]
    columns += [(f"rate+drift k={k_mid}", ([0, 6, 7], k_mid)), (f"6 summaries k={k_mid}", (list(range(6)), k_mid))]
    print("\nMAE g_s / g_u against each train's actual DICs (drift: ISI CV and trend, clean trains only)")
    print(f"{'class':9s} {'n':>6s}" + "".join(f" {name:>15s}" for name, _ in columns) + f" {'network/rate':>14s}")
    found: dict[str, dict[str, np.ndarray]] = {}
    for label, name in CLASSES.items():
        idx = active[test.labels[active] == label]
        ref = np.flatnonzero(reference.labels == label)
        if idx.size == 0 or ref.size == 0:
            continue
        truth = test.targets[idx]
        maes = {"network": np.array([clean[f"mae_g_s_{name}"], clean[f"mae_g_u_{name}"]]),
                columns[1][0]: np.array([shaken[f"mae_g_s_{name}"], shaken[f"mae_g_u_{name}"]])}
        if f"posterior_mae_g_s_{name}" in clean:  # what the network's own posterior expects
            maes["posterior expects"] = np.array([clean[f"posterior_mae_g_s_{name}"], clean[f"posterior_mae_g_u_{name}"]])
        for column, spec in columns[2:]:
            cols, k = spec
            guess = _knn_median(ref_x[np.ix_(ref, cols)] / scale[cols], reference.targets[ref],
                                test_x[np.ix_(idx, cols)] / scale[cols], k)
            maes[column] = np.abs(guess - truth).mean(axis=0)
        maes["rate"] = np.min([maes[f"rate k={k}"] for k in args.k], axis=0)
        maes["drift"] = maes[f"rate+drift k={k_mid}"]
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = maes["network"] / maes["rate"]
        print(f"{name:9s} {idx.size:6d}" + "".join(f" {_pair(maes[c])}" for c, _ in columns)
              + f" {ratio[0]:6.2f} /{ratio[1]:5.2f}")
        found[name] = maes
        found[name]["n"] = np.array([idx.size, idx.size])

    if "spiking" in found:
        share = float(np.mean(test.labels[active] == 1))
        target = np.array(TARGETS[args.model])
        print(f"\nspiking share of the test trains: {share:.3f}; issue-4 targets (overall MAE): "
              f"g_s {target[0]}, g_u {target[1]}")
        bursting = found.get("bursting", {}).get("network", np.zeros(2))
        for floor, what in (("rate", "rate floor (any jitter-robust estimator): overall MAE at least about"),
                            ("drift", "rate+drift estimator (reads the clean trains' ISI drift): overall MAE")):
            low = share * found["spiking"][floor]
            with_net = low + (1 - share) * bursting
            print(f"  {what} {_pair(low)} with bursting trains error-free "
                  f"(ratio to target {low[0] / target[0]:.2f} / {low[1] / target[1]:.2f}); "
                  f"{_pair(with_net)} with the network's bursting error")
    for name, maes in found.items():
        if "posterior expects" in maes:
            print(f"{name}: the network's posterior expects an MAE of {_pair(maes['posterior expects'])} of its "
                  f"median (measured {_pair(maes['network'])})")
    print(f"total {time.perf_counter() - start:.1f} s")
    if args.record:
        import shlex
        import sys

        record = {
            "command": shlex.join(["python", "benchmarks/bench_identifiability.py", *sys.argv[1:]]),
            "reference": {"paths": [str(p) for p in args.reference], "n_trains": len(reference),
                          "n_spiking": int((reference.labels == 1).sum())},
            "k": list(args.k), "jitter": args.jitter,
        }
        for name, maes in found.items():
            record[name] = {column: [float(v) for v in value] for column, value in maes.items()}
            with np.errstate(divide="ignore", invalid="ignore"):
                record[name]["ratio_to_rate_floor"] = [float(v) for v in maes["network"] / maes["rate"]]
        path = record_evaluation(resolve_weights(args.model, args.weights), test_path.stem, record,
                                 section="identifiability")
        print(f"recorded in {path}")


if __name__ == "__main__":
    main()
