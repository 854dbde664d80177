"""Benchmark: DIC network throughput and latency on CPU, against the original architecture.

The baseline is the original study's transformer ("DICsNet", science.md 9.2: 64-d embedding
with sinusoidal positions, 4 post-norm encoder blocks with 8-head attention, attention pooling,
16-d residual decoder with auxiliary heads; ~115k parameters), implemented here for timing
only (random weights: speed does not depend on the values).  Both networks run in the same
process on the same trains, with the same batching (sorted by length, batches of 512), so the
printed ratios compare like with like on this machine.

Trains: the test set of a generated dataset (``--data DIR``) or, by default, synthetic STG-like
trains (tonic and bursting, 3 s, spike counts spread like the original STG set: median ~37).

Run:  python benchmarks/bench_inference.py [--data DIR] [--threads 2] [--n-trains 5000] [--weights stg-v3 ...]
Targets (issue 4): >= 5,000 trains/s in batches; < 5 ms for one train.

``--max-tokens T`` (repeatable) also times the first network with the token cap ``T`` (the
first ``T`` ISIs are tokens, the train-level summaries still describe every spike read) and
``--max-spikes S`` (repeatable) with the spike cap ``S`` (the first ``S`` spikes are read at
all), each alternately with the uncapped network in the same run; with ``--data`` it also prints
the accuracy of each variant on those labelled trains (MAE, coverage of the central 90 %
posterior intervals, class accuracy), e.g.
``--data tests/data/da-test-v1.npz --weights da-v3 --max-tokens 256 --max-spikes 250``.

``--weights`` (repeatable) times shipped versions or weight files side by side, e.g.
``--weights stg-v3 --weights stg-v4``: the network alone against the same network with the
joint-posterior head (issue 13), which adds the mixture parameters and their moments.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from nwb_dicpop.inference.features import encode_spike_trains
from nwb_dicpop.inference.network import DICNet, NetworkConfig, load_network
from nwb_dicpop.inference.predict import available_weights, predict_arrays, resolve_weights


# --------------------------------------------------------------------------- original architecture
class _Residual16(nn.Module):
    def __init__(self, d: int, dropout: float) -> None:
        super().__init__()
        self.ff = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d))
        self.norm = nn.LayerNorm(d)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x + self.drop(nn.functional.gelu(self.ff(x))))


class OriginalDICsNet(nn.Module):
    """The original architecture (science.md 9.2), for timing comparisons only."""

    def __init__(self, d: int = 64, heads: int = 8, blocks: int = 4, latent: int = 16, dropout: float = 0.034) -> None:
        super().__init__()
        self.embed = nn.Linear(2, d)
        position = torch.arange(1000).unsqueeze(1)
        div = torch.exp(torch.arange(0, d, 2) * (-math.log(10000.0) / d))
        pe = torch.zeros(1000, d)
        pe[:, 0::2] = torch.sin(position * div)
        pe[:, 1::2] = torch.cos(position * div)
        self.register_buffer("pe", pe)
        self.attn = nn.ModuleList(nn.MultiheadAttention(d, heads, dropout=dropout, batch_first=True) for _ in range(blocks))
        self.ff = nn.ModuleList(
            nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.Dropout(dropout), nn.Linear(d, d)) for _ in range(blocks)
        )
        self.norm1 = nn.ModuleList(nn.LayerNorm(d) for _ in range(blocks))
        self.norm2 = nn.ModuleList(nn.LayerNorm(d) for _ in range(blocks))
        self.core_out = nn.Sequential(nn.Linear(d, d), nn.LayerNorm(d), nn.Dropout(dropout), nn.GELU())
        self.query = nn.Parameter(torch.randn(d))
        self.key = nn.Linear(d, d)
        self.pool_out = nn.Sequential(nn.LayerNorm(d), nn.Linear(d, latent), nn.Dropout(dropout), nn.GELU())
        self.class_branch = nn.Sequential(_Residual16(latent, dropout), _Residual16(latent, dropout))
        self.class_final = nn.Linear(latent, 2)
        self.metric_branch = nn.Sequential(_Residual16(latent, dropout), _Residual16(latent, dropout))
        self.metric_final = nn.Linear(latent, 5)
        self.alpha_c = nn.Parameter(torch.zeros(latent))
        self.alpha_m = nn.Parameter(torch.zeros(latent))
        self.trunk = nn.Sequential(_Residual16(latent, dropout), _Residual16(latent, dropout))
        self.trunk_final = nn.Linear(latent, 2)
        self.sigma = nn.Sequential(_Residual16(latent, dropout), _Residual16(latent, dropout))
        self.sigma_final = nn.Linear(latent, 2)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, ...]:
        keep = mask.unsqueeze(-1).to(tokens.dtype)
        x = (self.embed(tokens) + self.pe[: tokens.shape[1]]) * keep
        for attn, ff, n1, n2 in zip(self.attn, self.ff, self.norm1, self.norm2, strict=True):
            x = n1(x + attn(x, x, x, key_padding_mask=~mask, need_weights=False)[0])
            x = n2(x + nn.functional.gelu(ff(x)))
        x = self.core_out(x)
        scores = (self.key(x) @ self.query / math.sqrt(x.shape[-1])).masked_fill(~mask, float("-inf"))
        z = self.pool_out((torch.softmax(scores.float(), dim=1).unsqueeze(-1) * x).sum(dim=1))
        xc, xm = self.class_branch(z), self.metric_branch(z)
        h = self.trunk(z + self.alpha_c * xc + self.alpha_m * xm)
        return self.trunk_final(h), self.sigma_final(self.sigma(h)), self.class_final(xc), self.metric_final(xm)


# --------------------------------------------------------------------------- inputs
def synthetic_trains(n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """STG-like 3 s trains: half tonic (4-25 Hz), half bursting (2-12 spikes per burst)."""
    trains = []
    for i in range(n):
        if i % 2 == 0:
            rate = rng.uniform(4, 25)
            t = np.arange(0, 3.0, 1 / rate) + rng.uniform(0, 1 / rate)
        else:
            per_burst, period = rng.integers(2, 13), rng.uniform(0.09, 0.35)
            onsets = np.arange(0, 3.0 - 0.1, period)
            t = (onsets[:, None] + rng.uniform(0.003, 0.012) * np.arange(per_burst)).ravel()
        trains.append(np.sort(t[t < 3.0]))
    return [t for t in trains if t.size >= 3]


def best_of(func, repeats: int) -> float:
    func()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def run_original(net: OriginalDICsNet, trains: list[np.ndarray], batch_size: int, max_spikes: int = 250) -> None:
    order = np.argsort([t.size for t in trains])
    with torch.inference_mode():
        for start in range(0, len(trains), batch_size):
            batch = encode_spike_trains([trains[i] for i in order[start : start + batch_size]], max_spikes=max_spikes)
            net(torch.from_numpy(batch.tokens), torch.from_numpy(batch.mask))


def accuracy(loaded, trains: list[np.ndarray], targets: np.ndarray, labels: np.ndarray, **caps) -> dict[str, float]:
    """MAE, coverage of the central 90 % marginal posterior intervals (or mean +- 1.645 std
    without a posterior head) and class accuracy on labelled trains, as evaluate_network scores."""
    out = predict_arrays(loaded, trains, batch_size=1024, **caps)
    error = np.abs(out.mean - targets)
    if out.has_posterior:
        from nwb_dicpop.inference.posterior import marginal_quantiles

        low, high = marginal_quantiles(out.weights, out.means, out.scale_tril, out.support, [0.05, 0.95])
        inside = (targets >= low) & (targets <= high)
    else:
        inside = error <= 1.6448536269514722 * out.std
    return {
        "mae_g_s": float(error[:, 0].mean()), "mae_g_u": float(error[:, 1].mean()),
        "coverage90_g_s": float(inside[:, 0].mean()), "coverage90_g_u": float(inside[:, 1].mean()),
        "class_accuracy": float(np.mean(np.where(out.p_bursting > 0.5, 2, 1) == labels)),
        "ood_fraction": float(out.out_of_distribution.mean()),
    }


def compare_caps(loaded, trains, variants, repeats: int, data, keep) -> None:
    """Throughput of the network uncapped and with each cap, timed round-robin in one run (the
    ratios compare like with like on a busy machine); with labelled data, accuracy both ways."""
    n = len(trains)
    names = ["uncapped", *(name for name, _ in variants)]
    settings = [{}, *(caps for _, caps in variants)]
    times: list[list[float]] = [[] for _ in names]
    for caps in settings:  # warm-up
        predict_arrays(loaded, trains, batch_size=512, **caps)
    for _ in range(max(3, repeats)):
        for k, caps in enumerate(settings):
            start = time.perf_counter()
            predict_arrays(loaded, trains, batch_size=512, **caps)
            times[k].append(time.perf_counter() - start)
    base = min(times[0])
    for name, caps, spent in zip(names, settings, times, strict=True):
        cap = int(caps.get("max_spikes", loaded.card.get("max_spikes", 1024)))
        tokens = sum(min(t.size, cap, caps.get("max_tokens", cap - 1) + 1) - 1 for t in trains)
        print(f"{loaded.version} {name:<16} {n / min(spent):9,.0f} trains/s  x{base / min(spent):5.2f} vs uncapped  "
              f"({tokens:,} tokens)")
    if data is None:
        return
    keep = np.asarray(keep)
    labelled = data.labels[keep] > 0
    chosen = [trains[i] for i in np.flatnonzero(labelled)]
    targets, labels = data.targets[keep][labelled], data.labels[keep][labelled]
    keys = ["mae_g_s", "mae_g_u", "coverage90_g_s", "coverage90_g_u", "class_accuracy", "ood_fraction"]
    print(f"accuracy on {len(chosen)} labelled trains: " + ", ".join(keys))
    for name, caps in zip(names, settings, strict=True):
        scores = accuracy(loaded, chosen, targets, labels, **caps)
        print(f"{loaded.version} {name:<16} " + "  ".join(f"{scores[k]:.4f}" for k in keys))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", help="dataset directory (test set) to take trains from")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--n-trains", type=int, default=5000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--weights", action="append",
                        help="network version or weights card to time (repeatable; default the newest shipped)")
    parser.add_argument("--max-tokens", type=int, action="append", default=[],
                        help="also time (and with --data score) the first network with this token cap (repeatable)")
    parser.add_argument("--max-spikes", type=int, action="append", default=[],
                        help="also time (and with --data score) the first network with this spike cap (repeatable)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    data = keep = None
    if args.data:
        from nwb_dicpop.inference.data import load_training_data

        data = load_training_data(args.data)
        keep = np.flatnonzero(data.n_spikes >= 3)[: args.n_trains]
        trains = data.trains(keep)
        model = data.model_name
    else:
        trains = synthetic_trains(args.n_trains, rng)
        model = "stg"
    if args.weights:
        networks = [load_network(resolve_weights(model, w)) for w in args.weights]
    elif model in available_weights():
        networks = [load_network(resolve_weights(model))]
    else:
        from nwb_dicpop.inference.network import LoadedNetwork

        networks = [LoadedNetwork(DICNet(NetworkConfig()).eval(), {"max_spikes": 1024}, Path("random-init.json"))]
    loaded = networks[0]
    label = loaded.version if args.weights or model in available_weights() else "DICNet (random init)"
    original = OriginalDICsNet().eval()
    n = len(trains)
    counts = np.array([t.size for t in trains])
    print(f"{n} trains, spikes per train: median {np.median(counts):.0f}, mean {counts.mean():.1f}, max {counts.max()}")
    print(f"threads: {torch.get_num_threads()}; parameters: ours {loaded.network.n_parameters():,}, "
          f"original {sum(p.numel() for p in original.parameters()):,}")
    ours_t = best_of(lambda: predict_arrays(loaded, trains, batch_size=512), args.repeats)
    orig_t = best_of(lambda: run_original(original, trains, 512), args.repeats)
    print(f"throughput (batches of 512): {label}: {n / ours_t:,.0f} trains/s; original: {n / orig_t:,.0f} trains/s; "
          f"speed-up x{orig_t / ours_t:.1f}  (target >= 5,000 trains/s)")
    one = [trains[int(np.argsort(counts)[n // 2])]]  # a median-length train
    ours_1 = best_of(lambda: predict_arrays(loaded, one, batch_size=1), 20)
    orig_1 = best_of(lambda: run_original(original, one, 1), 20)
    print(f"latency, one train of {one[0].size} spikes: {label}: {ours_1 * 1e3:.2f} ms; original: {orig_1 * 1e3:.2f} ms; "
          f"speed-up x{orig_1 / ours_1:.1f}  (target < 5 ms)")
    variants = [(f"max_tokens={t}", {"max_tokens": t}) for t in args.max_tokens]
    variants += [(f"max_spikes={c}", {"max_spikes": c}) for c in args.max_spikes]
    if variants:
        compare_caps(loaded, trains, variants, args.repeats, data, keep)
    for other in networks[1:]:  # more versions, timed alternately with the first (same machine load)
        first, second = [], []
        for _ in range(args.repeats):
            first.append(best_of(lambda: predict_arrays(loaded, trains, batch_size=512), 1))
            second.append(best_of(lambda net=other: predict_arrays(net, trains, batch_size=512), 1))
        t_first, t_second = min(first), min(second)
        one_second = best_of(lambda net=other: predict_arrays(net, one, batch_size=1), 20)
        print(f"throughput (batches of 512): {label}: {n / t_first:,.0f} trains/s; {other.version}: "
              f"{n / t_second:,.0f} trains/s (x{t_first / t_second:.2f}); latency {other.version}: "
              f"{one_second * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
