"""The DIC network and its weight files.

:class:`DICNet` maps the ISI tokens of one spike train (see
:mod:`~nwb_dicpop.inference.features`) to the slow and ultraslow DICs at the model's
threshold, a log standard deviation for each, and spiking/bursting logits.

Architecture (a cheaper alternative to the original 115k-parameter transformer of
Brandoit et al. 2025):

* token embedding ``Linear(2 -> d)``;
* ``n_blocks`` residual blocks, each a dilated depthwise 1-D convolution over the token axis
  (kernel ``kernel_size``, dilation ``2**i``) followed by ``LayerNorm`` and a position-wise MLP
  ``d -> expansion*d -> d`` (ConvNeXt style); padded tokens are zeroed before every
  convolution, so a train's output does not depend on the batch it is in;
* pooling: attention pooling with one learned query, concatenated with the masked mean;
* the standardised train summaries (log rate, log spike count, ISI CV) are appended;
* an MLP trunk and three linear heads: mean (2), log sigma (2), class logits (2);
* optionally (``posterior_components > 0``, networks from ``stg-v4`` / ``da-v3`` on) a
  :class:`PosteriorHead` on the trunk features: a mixture of ``K`` full-covariance Gaussians
  over the logit of the box-normalised ``(g_s, g_u)`` (the joint posterior, see
  :mod:`~nwb_dicpop.inference.posterior`) and a Gaussian for the fast DIC ``g_f``.  It is
  trained after the rest, on fresh data, with the encoder and the other heads frozen.

All normalisation statistics (token features, summaries, targets) are buffers of the module,
so the state dict is self-contained.  The module predicts standardised targets and returns
them in DIC units.

Weight files: ``<name>.pt`` holds the state dict only (loadable with
``torch.load(..., weights_only=True)``), ``<name>.json`` the architecture, normalisation,
training support, calibration, metrics and the SHA-256 of the ``.pt`` file, which
:func:`load_network` verifies before loading.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from nwb_dicpop._files import write_bytes_atomic

__all__ = [
    "DICNet",
    "LoadedNetwork",
    "NetworkConfig",
    "PosteriorHead",
    "file_sha256",
    "load_network",
    "save_network",
]

LOG_SIGMA_LIMITS = (-7.0, 3.0)
"""Clamp of the predicted log sigma (standardised target units)."""

LOG_SCALE_LIMITS = (-6.0, 2.5)
"""Clamp of the log diagonal of the posterior components' Cholesky factors (logit units)."""


@dataclass(frozen=True, slots=True)
class NetworkConfig:
    """Architecture hyper-parameters of :class:`DICNet`.

    Attributes
    ----------
    d_model : int
        Channels of the token encoder.
    n_blocks : int
        Residual convolution blocks (dilations 1, 2, 4, ...).
    kernel_size : int
        Odd kernel size of the depthwise convolutions.
    expansion : int
        Hidden width factor of each block's MLP.
    d_trunk : int
        Width of the trunk after pooling.
    dropout : float
    n_summary : int
        Train-level inputs appended after pooling: 6 (rate, spike count, ISI CV and the burst
        summaries of :func:`~nwb_dicpop.inference.features.network_inputs`), or 3 for
        networks trained before the burst summaries existed.
    posterior_components : int
        Gaussian components of the joint-posterior head; 0 (networks before ``stg-v4`` /
        ``da-v3``): no posterior head.
    posterior_hidden : int
        Width of the posterior head's two hidden layers.
    """

    d_model: int = 32
    n_blocks: int = 4
    kernel_size: int = 5
    expansion: int = 2
    d_trunk: int = 64
    dropout: float = 0.05
    n_summary: int = 6
    posterior_components: int = 0
    posterior_hidden: int = 64

    def __post_init__(self) -> None:
        if self.n_summary not in (3, 6):
            msg = f"`n_summary` must be 3 or 6; got {self.n_summary!r}."
            raise ValueError(msg)
        for name in ("d_model", "n_blocks", "kernel_size", "expansion", "d_trunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                msg = f"`{name}` must be a positive integer; got {value!r}."
                raise ValueError(msg)
        for name in ("posterior_components", "posterior_hidden"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 0:
                msg = f"`{name}` must be a non-negative integer; got {value!r}."
                raise ValueError(msg)
        if self.kernel_size % 2 == 0:
            msg = f"`kernel_size` must be odd; got {self.kernel_size}."
            raise ValueError(msg)
        if not 0.0 <= self.dropout < 1.0:
            msg = f"`dropout` must be in [0, 1); got {self.dropout!r}."
            raise ValueError(msg)


class _Block(nn.Module):
    """Dilated depthwise convolution over tokens + LayerNorm + MLP, with a residual connection.

    The depthwise convolution is written as a sum of shifted, channel-scaled copies of the
    (batch, tokens, channels) input: on CPU this is several times faster than
    ``nn.Conv1d(groups=channels)`` and avoids transposes.
    """

    def __init__(self, d: int, kernel_size: int, dilation: int, expansion: int, dropout: float) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.dilation = dilation
        self.conv_weight = nn.Parameter(torch.randn(kernel_size, d) / math.sqrt(kernel_size))
        self.conv_bias = nn.Parameter(torch.zeros(d))
        self.norm = nn.LayerNorm(d)
        self.mlp = nn.Sequential(nn.Linear(d, expansion * d), nn.GELU(), nn.Linear(expansion * d, d))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
        n_tokens = x.shape[1]
        half = self.dilation * (self.kernel_size // 2)
        padded = nn.functional.pad(x * keep, (0, 0, half, half))
        if not torch.is_grad_enabled():
            # inference: fused multiply-adds written in place, about 1.3x faster on CPU; equal
            # to the training path below to float32 rounding (which keeps training reproducible)
            h = torch.addcmul(self.conv_bias, padded[:, 0:n_tokens], self.conv_weight[0])
            for k in range(1, self.kernel_size):
                start = k * self.dilation
                h.addcmul_(padded[:, start : start + n_tokens], self.conv_weight[k])
            return self.drop(self.mlp(self.norm(h))).add_(x)
        h = padded[:, 0:n_tokens] * self.conv_weight[0] + self.conv_bias
        for k in range(1, self.kernel_size):
            start = k * self.dilation
            h = h + padded[:, start : start + n_tokens] * self.conv_weight[k]
        return x + self.drop(self.mlp(self.norm(h)))


class PosteriorHead(nn.Module):
    """Joint posterior of ``(g_s, g_u)`` and a Gaussian for ``g_f``, from trunk features.

    The trunk features are standardised (buffers ``feature_mean``, ``feature_std``) and go
    through two GELU layers of ``d_hidden`` (input dropout ``dropout`` while training); linear outputs give, per component, a logit
    weight, a mean (2) and a lower Cholesky factor (log diagonal 2, off-diagonal 1) in the
    logit space of the support box ``[support_low, support_high]`` (buffers), and a mean and
    log sigma of ``g_f`` (standardised by ``g_f_mean``, ``g_f_std``; the sigma is multiplied
    by the calibration buffer ``g_f_sigma_scale``).  ``scale_factor`` multiplies every
    Cholesky factor (a calibration temperature, 1 unless set after training).
    """

    def __init__(self, d_in: int, n_components: int, d_hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_components = n_components
        self.register_buffer("feature_mean", torch.zeros(d_in))
        self.register_buffer("feature_std", torch.ones(d_in))
        self.register_buffer("support_low", torch.zeros(2))
        self.register_buffer("support_high", torch.ones(2))
        self.register_buffer("scale_factor", torch.ones(()))
        self.register_buffer("g_f_mean", torch.zeros(()))
        self.register_buffer("g_f_std", torch.ones(()))
        self.register_buffer("g_f_sigma_scale", torch.ones(()))
        self.body = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(d_in, d_hidden), nn.GELU(), nn.Linear(d_hidden, d_hidden), nn.GELU()
        )
        self.mixture = nn.Linear(d_hidden, 6 * n_components)
        self.g_f = nn.Linear(d_hidden, 2)
        with torch.no_grad():  # start with broad, equal components around 0 (the box centre)
            self.mixture.weight.mul_(0.1)
            self.mixture.bias.zero_()
            self.mixture.bias[n_components : 3 * n_components].copy_(torch.randn(2 * n_components))

    @property
    def support(self) -> torch.Tensor:
        """``[[g_s_low, g_s_high], [g_u_low, g_u_high]]``."""
        return torch.stack([self.support_low, self.support_high], dim=-1)

    def forward(self, h: torch.Tensor) -> dict[str, torch.Tensor]:
        """``log_weights`` (B, K), ``means`` (B, K, 2), ``scale_tril`` (B, K, 2, 2) in logit
        space, ``g_f`` (B,) in DIC units and ``g_f_log_sigma`` (B,) (standardised units,
        before calibration)."""
        x = self.body((h - self.feature_mean) / self.feature_std)
        k = self.n_components
        out = self.mixture(x)
        log_weights = torch.log_softmax(out[:, :k], dim=-1)
        means = out[:, k : 3 * k].reshape(-1, k, 2)
        log_diag = out[:, 3 * k : 5 * k].reshape(-1, k, 2).clamp(*LOG_SCALE_LIMITS)
        diag = torch.exp(log_diag) * self.scale_factor
        off = out[:, 5 * k : 6 * k] * self.scale_factor
        zero = torch.zeros_like(off)
        scale_tril = torch.stack(
            [torch.stack([diag[..., 0], zero], dim=-1), torch.stack([off, diag[..., 1]], dim=-1)], dim=-2
        )
        g_f = self.g_f(x)
        return {
            "log_weights": log_weights,
            "means": means,
            "scale_tril": scale_tril,
            "g_f": g_f[:, 0] * self.g_f_std + self.g_f_mean,
            "g_f_log_sigma": g_f[:, 1].clamp(*LOG_SIGMA_LIMITS),
        }

    @staticmethod
    def log_prob(outputs: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """Log density of logit-space points ``z`` (B, 2) under the mixture, shape (B,)."""
        tril = outputs["scale_tril"]
        delta = z.unsqueeze(1) - outputs["means"]
        a, b, c = tril[..., 0, 0], tril[..., 1, 0], tril[..., 1, 1]
        v1 = delta[..., 0] / a
        v2 = (delta[..., 1] - b * v1) / c
        component = -0.5 * (v1 * v1 + v2 * v2) - torch.log(a) - torch.log(c) - math.log(2.0 * math.pi)
        return torch.logsumexp(outputs["log_weights"] + component, dim=-1)

    def latent(self, g: torch.Tensor, margin: float) -> torch.Tensor:
        """DICs (B, 2) -> logit space, clipped to ``[margin, 1 - margin]`` of the box."""
        u = ((g - self.support_low) / (self.support_high - self.support_low)).clamp(margin, 1.0 - margin)
        return torch.log(u) - torch.log1p(-u)

    def moments(self, outputs: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Posterior mean and marginal standard deviation in DIC units, (B, 2) each.

        ``g_d`` depends on ``z_d`` only, so each moment is a one-dimensional Gauss-Hermite
        integral per component over the component's marginal ``N(mu_d, sigma_d^2)`` (see
        :func:`~nwb_dicpop.inference.posterior.mixture_moments`); float64, because the
        variance is a difference of moments of values up to ~20.
        """
        nodes, node_weights = _hermite_rule()
        means, tril = outputs["means"].double(), outputs["scale_tril"].double()
        sd = torch.sqrt((tril * tril).sum(dim=-1))  # (B, K, 2): sqrt of diag(L L^T)
        z = means.unsqueeze(-1) + sd.unsqueeze(-1) * nodes  # (B, K, 2, P)
        low, high = self.support_low.double().unsqueeze(-1), self.support_high.double().unsqueeze(-1)
        g = low + (high - low) * torch.sigmoid(z)
        weights = torch.exp(outputs["log_weights"].double()).unsqueeze(-1)  # (B, K, 1)
        first = (weights * (g * node_weights).sum(dim=-1)).sum(dim=1)
        second = (weights * (g * g * node_weights).sum(dim=-1)).sum(dim=1)
        return first, torch.sqrt((second - first * first).clamp_min(0.0))


@functools.lru_cache(maxsize=1)
def _hermite_rule(order: int = 24) -> tuple[torch.Tensor, torch.Tensor]:
    """Probabilists' Gauss-Hermite nodes and weights (normalised to sum 1), float64."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(order)
    return torch.from_numpy(nodes), torch.from_numpy(weights / weights.sum())


class DICNet(nn.Module):
    """Spike-train encoder predicting ``(g_s, g_u)``, their log sigma and the firing class.

    Parameters
    ----------
    config : NetworkConfig

    Notes
    -----
    ``forward(tokens, mask, summary)`` takes ``tokens`` (batch, n_tokens, 2) float32,
    ``mask`` (batch, n_tokens) bool and ``summary`` (batch, n_summary) float32 (the output of
    :func:`~nwb_dicpop.inference.features.network_inputs`) and returns ``(mean, log_sigma,
    logits)``: ``mean`` (batch, 2) in DIC units, ``log_sigma`` (batch, 2) log standard
    deviation in standardised target units (multiply ``exp(log_sigma)`` by ``target_std``
    for DIC units; see :meth:`predict`), ``logits`` (batch, 2) for (spiking, bursting).
    """

    def __init__(self, config: NetworkConfig | None = None) -> None:
        super().__init__()
        self.config = config or NetworkConfig()
        c = self.config
        self.register_buffer("token_mean", torch.zeros(2))
        self.register_buffer("token_std", torch.ones(2))
        self.register_buffer("summary_mean", torch.zeros(c.n_summary))
        self.register_buffer("summary_std", torch.ones(c.n_summary))
        self.register_buffer("target_mean", torch.zeros(2))
        self.register_buffer("target_std", torch.ones(2))
        self.register_buffer("sigma_scale", torch.ones(2))
        # out-of-distribution detector: Mahalanobis distance of the trunk features to the
        # training features (mean, precision matrix, threshold); inf threshold = disabled
        self.register_buffer("ood_mean", torch.zeros(c.d_trunk))
        self.register_buffer("ood_precision", torch.eye(c.d_trunk))
        self.register_buffer("ood_threshold", torch.tensor(float("inf")))
        self.embed = nn.Linear(2, c.d_model)
        self.blocks = nn.ModuleList(
            _Block(c.d_model, c.kernel_size, 2**i, c.expansion, c.dropout) for i in range(c.n_blocks)
        )
        self.final_norm = nn.LayerNorm(c.d_model)
        self.query = nn.Parameter(torch.zeros(c.d_model))
        self.key = nn.Linear(c.d_model, c.d_model, bias=False)
        self.trunk = nn.Sequential(
            nn.Linear(2 * c.d_model + c.n_summary, c.d_trunk),
            nn.GELU(),
            nn.Dropout(c.dropout),
            nn.Linear(c.d_trunk, c.d_trunk),
            nn.GELU(),
        )
        self.mean_head = nn.Linear(c.d_trunk, 2)
        self.log_sigma_head = nn.Linear(c.d_trunk, 2)
        self.class_head = nn.Linear(c.d_trunk, 2)
        with torch.no_grad():
            self.log_sigma_head.weight.mul_(0.01)
            self.log_sigma_head.bias.zero_()
        self.posterior = (
            PosteriorHead(c.d_trunk, c.posterior_components, c.posterior_hidden) if c.posterior_components else None
        )

    def set_normalisation(self, stats: dict[str, Any]) -> None:
        """Copy normalisation statistics (``token_mean``, ``target_std``, ...) into the buffers."""
        for name, value in stats.items():
            buffer = getattr(self, name)
            buffer.copy_(torch.as_tensor(np.asarray(value, dtype=np.float32)))

    def normalisation(self) -> dict[str, Any]:
        """The normalisation buffers as plain lists (for the JSON card)."""
        names = ("token_mean", "token_std", "summary_mean", "summary_std", "target_mean", "target_std", "sigma_scale")
        out: dict[str, Any] = {name: [float(v) for v in getattr(self, name)] for name in names}
        threshold = float(self.ood_threshold)
        out["ood_threshold"] = threshold if math.isfinite(threshold) else None
        return out

    def encode(self, tokens: torch.Tensor, mask: torch.Tensor, summary: torch.Tensor) -> torch.Tensor:
        """Trunk features, shape (batch, d_trunk)."""
        keep = mask.unsqueeze(-1).to(tokens.dtype)
        x = self.embed((tokens - self.token_mean) / self.token_std) * keep
        for block in self.blocks:
            x = block(x, keep)
        x = self.final_norm(x) * keep
        scores = (self.key(x) @ self.query) / math.sqrt(x.shape[-1])
        scores = scores.masked_fill(~mask, float("-inf"))
        weights = torch.softmax(scores, dim=1).unsqueeze(-1)
        attended = (weights * x).sum(dim=1)
        mean_pool = x.sum(dim=1) / keep.sum(dim=1).clamp_min(1.0)
        s = (summary - self.summary_mean) / self.summary_std
        return self.trunk(torch.cat([attended, mean_pool, s], dim=-1))

    def heads(self, h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(mean, log_sigma, logits)`` from trunk features."""
        mean = self.mean_head(h) * self.target_std + self.target_mean
        log_sigma = self.log_sigma_head(h).clamp(*LOG_SIGMA_LIMITS)
        return mean, log_sigma, self.class_head(h)

    def forward(
        self, tokens: torch.Tensor, mask: torch.Tensor, summary: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.heads(self.encode(tokens, mask, summary))

    @torch.no_grad()
    def predict(
        self, tokens: torch.Tensor, mask: torch.Tensor, summary: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Evaluation outputs in DIC units.

        Returns
        -------
        mean : Tensor, shape (batch, 2)
            ``(g_s, g_u)``.
        std : Tensor, shape (batch, 2)
            Calibrated one-sigma uncertainty.
        p_bursting : Tensor, shape (batch,)
            Probability of the bursting class.
        distance : Tensor, shape (batch,)
            Mahalanobis distance of the trunk features to the training features (compare with
            ``ood_threshold``).
        """
        h = self.encode(tokens, mask, summary)
        mean, log_sigma, logits = self.heads(h)
        std = torch.exp(log_sigma) * self.target_std * self.sigma_scale
        centred = h - self.ood_mean
        distance = torch.sqrt(((centred @ self.ood_precision) * centred).sum(dim=-1).clamp_min(0.0))
        return mean, std, torch.softmax(logits, dim=-1)[:, 1], distance

    @torch.no_grad()
    def infer(self, tokens: torch.Tensor, mask: torch.Tensor, summary: torch.Tensor) -> dict[str, torch.Tensor]:
        """Everything :meth:`predict` returns, plus the posterior head's outputs.

        Keys: ``mean``, ``std`` (the calibrated independent-Gaussian sigma of the sigma head),
        ``p_bursting``, ``distance``; with a posterior head also ``weights`` (B, K),
        ``means`` (B, K, 2), ``scale_tril`` (B, K, 2, 2) (logit space of the support box),
        ``posterior_mean`` and ``posterior_std`` (B, 2, DIC units), ``g_f`` and ``g_f_std``
        (B,).
        """
        h = self.encode(tokens, mask, summary)
        mean, log_sigma, logits = self.heads(h)
        centred = h - self.ood_mean
        out = {
            "mean": mean,
            "std": torch.exp(log_sigma) * self.target_std * self.sigma_scale,
            "p_bursting": torch.softmax(logits, dim=-1)[:, 1],
            "distance": torch.sqrt(((centred @ self.ood_precision) * centred).sum(dim=-1).clamp_min(0.0)),
        }
        if self.posterior is not None:
            post = self.posterior(h)
            post_mean, post_std = self.posterior.moments(post)
            head = self.posterior
            out.update(
                weights=torch.exp(post["log_weights"]), means=post["means"], scale_tril=post["scale_tril"],
                posterior_mean=post_mean, posterior_std=post_std, g_f=post["g_f"],
                g_f_std=torch.exp(post["g_f_log_sigma"]) * head.g_f_std * head.g_f_sigma_scale,
            )
        return out

    def n_parameters(self) -> int:
        """Number of trainable parameters."""
        return sum(p.numel() for p in self.parameters() if p.requires_grad)


# --------------------------------------------------------------------------- weight files
def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 digest of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def save_network(network: DICNet, path: str | Path, *, card: dict[str, Any]) -> tuple[Path, Path]:
    """Write ``<stem>.pt`` (state dict) and ``<stem>.json`` (card with SHA-256), atomically.

    Parameters
    ----------
    network : DICNet
    path : str or Path
        Either file name or the common stem, e.g. ``weights/stg-v1`` or ``weights/stg-v1.pt``.
    card : dict
        JSON-serialisable metadata (model, version, training support, metrics, ...); the
        architecture, normalisation, parameter count and checksum are added.

    Returns
    -------
    (Path, Path)
        The ``.pt`` and ``.json`` paths.
    """
    stem = Path(path)
    if stem.suffix in (".pt", ".json"):
        stem = stem.with_suffix("")
    pt_path, json_path = stem.with_suffix(".pt"), stem.with_suffix(".json")
    import io

    buffer = io.BytesIO()
    state = {k: v.detach().cpu().clone() for k, v in network.state_dict().items()}
    torch.save(state, buffer)
    write_bytes_atomic(pt_path, buffer.getvalue())
    full = dict(card)
    full.update(
        weights_file=pt_path.name,
        sha256=file_sha256(pt_path),
        architecture=asdict(network.config),
        normalisation=network.normalisation(),
        n_parameters=network.n_parameters(),
        torch_version=torch.__version__,
    )
    write_bytes_atomic(json_path, (json.dumps(full, indent=2, sort_keys=True) + "\n").encode())
    return pt_path, json_path


@dataclass(frozen=True)
class LoadedNetwork:
    """A network in evaluation mode with its card.

    Attributes
    ----------
    network : DICNet
    card : dict
        The JSON card (model, version, support, calibration, metrics...).
    path : Path
        The ``.json`` file it was loaded from.
    """

    network: DICNet
    card: dict[str, Any]
    path: Path

    @property
    def version(self) -> str:
        """Network version, e.g. ``"stg-v1"``."""
        return str(self.card.get("version", self.path.stem))


def load_network(path: str | Path) -> LoadedNetwork:
    """Load ``<stem>.json`` + ``<stem>.pt``, verifying the checksum; ``weights_only=True``.

    Parameters
    ----------
    path : str or Path
        The ``.json`` card, the ``.pt`` file or their common stem.

    Raises
    ------
    FileNotFoundError
        If either file is missing.
    ValueError
        If the ``.pt`` file's SHA-256 differs from the card's (corrupted or replaced file), or
        the card is not valid JSON.
    """
    stem = Path(path)
    if stem.suffix in (".pt", ".json"):
        stem = stem.with_suffix("")
    json_path = stem.with_suffix(".json")
    if not json_path.is_file():
        msg = f"Network card {json_path} not found; pass the path of a .json/.pt pair written by save_network."
        raise FileNotFoundError(msg)
    try:
        card = json.loads(json_path.read_text())
    except json.JSONDecodeError as err:
        msg = f"Network card {json_path} is not valid JSON ({err}); the file is corrupted."
        raise ValueError(msg) from err
    pt_path = json_path.parent / card.get("weights_file", stem.with_suffix(".pt").name)
    if not pt_path.is_file():
        msg = f"Weights file {pt_path} (named in {json_path.name}) not found."
        raise FileNotFoundError(msg)
    digest = file_sha256(pt_path)
    if digest != card.get("sha256"):
        msg = (
            f"Checksum mismatch for {pt_path}: SHA-256 {digest} but the card {json_path.name} records "
            f"{card.get('sha256')}. The weights file is corrupted or was replaced; restore it or retrain."
        )
        raise ValueError(msg)
    state = torch.load(pt_path, map_location="cpu", weights_only=True)
    # cards written before the burst summaries have no n_summary: those networks read 3 inputs
    network = DICNet(NetworkConfig(**{"n_summary": 3, **card["architecture"]}))
    network.load_state_dict(state, strict=True)
    network.eval()
    return LoadedNetwork(network, card, json_path)
