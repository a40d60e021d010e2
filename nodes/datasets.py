"""Data sets that need no download: scikit-learn's digits, upscaled to MNIST's
28x28, and MNIST read from idx files a user already has.

Both return ``TensorDataset``s of ``(image [1, 28, 28] float32, label int64)``
normalised with MNIST's mean and standard deviation.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import TensorDataset

__all__ = ["MNIST_MEAN", "MNIST_STD", "digits_datasets", "mnist_datasets"]

MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


def _normalise(images: torch.Tensor) -> torch.Tensor:
    return (images - MNIST_MEAN) / MNIST_STD


def digits_datasets(
    val_fraction: float = 0.2, seed: int = 0, size: int = 28
) -> tuple[TensorDataset, TensorDataset]:
    """scikit-learn's 1,797 8x8 digits, upscaled to ``size``x``size``, split stratified.

    Args:
        val_fraction: the share of each class that goes to validation.
        seed: the split's seed.
        size: the side of the upscaled images (28 matches MNIST models).

    Returns:
        ``(train, val)`` datasets.

    Raises:
        ValueError: ``val_fraction`` is not in (0, 1).
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be between 0 and 1, got {val_fraction}")
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    if size != 8:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    labels = torch.tensor(digits.target, dtype=torch.int64)
    idx = np.arange(len(labels))
    train_idx, val_idx = train_test_split(
        idx, test_size=val_fraction, stratify=digits.target, random_state=seed
    )
    images = _normalise(images)
    return (
        TensorDataset(images[train_idx], labels[train_idx]),
        TensorDataset(images[val_idx], labels[val_idx]),
    )


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0:
        raise ValueError(f"{path} is not an idx file (bad magic number)")
    dtype = {0x08: np.uint8}.get(data[2])
    if dtype is None:
        raise ValueError(f"{path}: unsupported idx element type 0x{data[2]:02x}")
    ndim = data[3]
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    body = np.frombuffer(data, dtype=dtype, offset=4 + 4 * ndim)
    if body.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: {body.size} values for shape {shape}")
    return body.reshape(shape)


def _find(data_dir: Path, stem: str) -> Path:
    for candidate in (
        data_dir / stem,
        data_dir / f"{stem}.gz",
        data_dir / "MNIST" / "raw" / stem,
        data_dir / "MNIST" / "raw" / f"{stem}.gz",
    ):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(
        f"MNIST file {stem}(.gz) not found in {data_dir} (nor in {data_dir}/MNIST/raw); "
        "put the four idx files there, or use the default digits data set"
    )


def mnist_datasets(data_dir: str | Path) -> tuple[TensorDataset, TensorDataset]:
    """MNIST from the four idx files (optionally gzipped) in ``data_dir``; nothing is downloaded.

    Raises:
        FileNotFoundError: a file is missing (the message says which and where).
    """
    root = Path(data_dir)
    out = []
    for split in ("train", "t10k"):
        images = _read_idx(_find(root, f"{split}-images-idx3-ubyte"))
        labels = _read_idx(_find(root, f"{split}-labels-idx1-ubyte"))
        x = torch.tensor(images, dtype=torch.float32).unsqueeze(1) / 255.0
        out.append(TensorDataset(_normalise(x), torch.tensor(labels, dtype=torch.int64)))
    return out[0], out[1]
