"""Data sets that need no download: the digits, and MNIST from idx files the user has."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
import torch

from nodes.datasets import MNIST_MEAN, MNIST_STD, digits_datasets, mnist_datasets


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> None:
    """Write ``array`` (uint8) in the idx format MNIST ships in."""
    header = struct.pack(">BBBB", 0, 0, 0x08, array.ndim) + b"".join(
        struct.pack(">I", n) for n in array.shape
    )
    data = header + array.astype(np.uint8).tobytes()
    if compress:
        path = path.with_name(path.name + ".gz")
        path.write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


def fake_mnist(root: Path, n_train: int = 6, n_test: int = 4, compress: bool = False) -> None:
    rng = np.random.default_rng(0)
    for split, n in (("train", n_train), ("t10k", n_test)):
        write_idx(root / f"{split}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)), compress)
        write_idx(root / f"{split}-labels-idx1-ubyte", np.arange(n) % 10, compress)


class TestDigits:
    def test_upscaled_stratified_split(self) -> None:
        """1,797 digits become 28x28 images; each class keeps its share in the validation split."""
        train, val = digits_datasets(val_fraction=0.2, seed=0)
        assert len(train) + len(val) == 1797 and len(val) == 360
        x, y = train[0]
        assert x.shape == (1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
        counts = torch.bincount(val.tensors[1], minlength=10)
        assert int(counts.min()) >= 35 and int(counts.max()) <= 37

    def test_bad_fraction(self) -> None:
        """A validation fraction outside (0, 1) is refused."""
        with pytest.raises(ValueError, match=r"val_fraction must be between 0 and 1, got 1\.5"):
            digits_datasets(val_fraction=1.5)


class TestMnistFiles:
    @pytest.mark.parametrize("compress", [False, True])
    def test_reads_idx_files(self, tmp_path: Path, compress: bool) -> None:
        """Plain or gzipped idx files give normalised 1x28x28 images and their labels."""
        fake_mnist(tmp_path, compress=compress)
        train, test = mnist_datasets(tmp_path)
        assert (len(train), len(test)) == (6, 4)
        assert train.tensors[0].shape == (6, 1, 28, 28)
        assert train.tensors[1].tolist() == [0, 1, 2, 3, 4, 5]
        raw = train.tensors[0] * MNIST_STD + MNIST_MEAN
        assert float(raw.min()) >= 0.0 and float(raw.max()) <= 1.0

    def test_missing_file_says_which_and_where(self, tmp_path: Path) -> None:
        """No files: the error names the file, the folder and the fallback."""
        with pytest.raises(
            FileNotFoundError, match=r"train-images-idx3-ubyte\(\.gz\) not found in"
        ):
            mnist_datasets(tmp_path)

    def test_truncated_file(self, tmp_path: Path) -> None:
        """A cut file is reported as truncated, with the shape it promised."""
        fake_mnist(tmp_path)
        images = tmp_path / "train-images-idx3-ubyte"
        images.write_bytes(images.read_bytes()[:-100])
        with pytest.raises(ValueError, match=r"is truncated: .* values for shape \(6, 28, 28\)"):
            mnist_datasets(tmp_path)

    def test_not_an_idx_file(self, tmp_path: Path) -> None:
        """A file with another magic number is refused."""
        fake_mnist(tmp_path)
        (tmp_path / "t10k-labels-idx1-ubyte").write_bytes(b"hello world")
        with pytest.raises(ValueError, match="is not an idx file"):
            mnist_datasets(tmp_path)
