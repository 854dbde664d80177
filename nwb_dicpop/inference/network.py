"""The DIC network and its weight files.

:class:`DICNet` maps the ISI tokens of one spike train (see
:mod:`~nwb_dicpop.inference.features`) to the slow and ultraslow DICs at the model's
threshold, a log standard deviation for each, and spiking/bursting logits.

Architecture (a cheaper alternative to the original 115k-parameter transformer of
science.md 9.2):

* token embedding ``Linear(2 -> d)``;
* ``n_blocks`` residual blocks, each a dilated depthwise 1-D convolution over the token axis
  (kernel ``kernel_size``, dilation ``2**i``) followed by ``LayerNorm`` and a position-wise MLP
  ``d -> expansion*d -> d`` (ConvNeXt style); padded tokens are zeroed before every
  convolution, so a train's output does not depend on the batch it is in;
* pooling: attention pooling with one learned query, concatenated with the masked mean;
* the standardised train summaries (log rate, log spike count, ISI CV) are appended;
* an MLP trunk and three linear heads: mean (2), log sigma (2), class logits (2).

All normalisation statistics (token features, summaries, targets) are buffers of the module,
so the state dict is self-contained.  The module predicts standardised targets and returns
them in DIC units.

Weight files: ``<name>.pt`` holds the state dict only (loadable with
``torch.load(..., weights_only=True)``), ``<name>.json`` the architecture, normalisation,
training support, calibration, metrics and the SHA-256 of the ``.pt`` file, which
:func:`load_network` verifies before loading.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

__all__ = [
    "DICNet",
    "LoadedNetwork",
    "NetworkConfig",
    "file_sha256",
    "load_network",
    "save_network",
]

LOG_SIGMA_LIMITS = (-7.0, 3.0)
"""Clamp of the predicted log sigma (standardised target units)."""


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
    """

    d_model: int = 32
    n_blocks: int = 4
    kernel_size: int = 5
    expansion: int = 2
    d_trunk: int = 64
    dropout: float = 0.05
    n_summary: int = 6

    def __post_init__(self) -> None:
        if self.n_summary not in (3, 6):
            msg = f"`n_summary` must be 3 or 6; got {self.n_summary!r}."
            raise ValueError(msg)
        for name in ("d_model", "n_blocks", "kernel_size", "expansion", "d_trunk"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < 1:
                msg = f"`{name}` must be a positive integer; got {value!r}."
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


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600 files; these are data, readable by all
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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
    _atomic_write_bytes(pt_path, buffer.getvalue())
    full = dict(card)
    full.update(
        weights_file=pt_path.name,
        sha256=file_sha256(pt_path),
        architecture=asdict(network.config),
        normalisation=network.normalisation(),
        n_parameters=network.n_parameters(),
        torch_version=torch.__version__,
    )
    _atomic_write_bytes(json_path, (json.dumps(full, indent=2, sort_keys=True) + "\n").encode())
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
