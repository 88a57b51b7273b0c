"""The benchmark command (hyperlib.bench): its models compute the same product, its byte model
counts the entries the layers really sample, and a small run writes a complete results file."""

import json
from pathlib import Path

import pytest
import torch

from hyperlib import bench

ROOT = Path(__file__).parents[1]


def _layer_and_batch(task, n):
    torch.manual_seed(0)
    net = bench.model(task, "hyperlib", n)
    x, target = bench._batch(task, n, torch.device("cpu"))
    return net, x, target


@pytest.mark.parametrize("task", list(bench.TASKS))
def test_entries_are_what_the_layer_samples(task):
    net, x, _ = _layer_and_batch(task, 64)
    indices, weights = net.sparse(x)
    assert weights.numel() == bench.entries(task, 64)
    assert indices.shape[:-1] == weights.shape


@pytest.mark.parametrize(("task", "layout"), [("identity", "coo"), ("identity", "csr"),
                                              ("adaptive", "coo"), ("glimpse", "coo")])
def test_torch_sparse_computes_the_layers_product(task, layout):
    """Same samples (same generator seed): torch.sparse gives the library's output and
    gradients."""
    net, x, target = _layer_and_batch(task, 64)
    other = bench.TorchSparse(net, layout)
    outputs, grads = [], []
    for module in (net, other):
        module.zero_grad()
        y = module(x, torch.Generator().manual_seed(1))
        (y - target).pow(2).mean().backward()
        outputs.append(y)
        grads.append([p.grad.clone() for p in net.parameters()])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=1e-4, atol=1e-5)
    for ours, theirs in zip(*grads, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-3, atol=1e-6)


def test_torch_sparse_refuses_what_it_cannot_do():
    net, x, _ = _layer_and_batch("adaptive", 16)
    with pytest.raises(ValueError, match="coo or csr"):
        bench.TorchSparse(net, "bsr")
    with pytest.raises(ValueError, match="shared entries only"):
        bench.TorchSparse(net, "csr")(x)


def test_dense_of_the_layer_computes_the_same_product():
    net, x, _ = _layer_and_batch("adaptive", 32)
    net.eval()
    torch.testing.assert_close(bench.DenseOf(net)(x), net(x))


def test_compiled_layer_agrees_with_the_eager_one():
    net, x, _ = _layer_and_batch("identity", 32)
    net.eval()
    torch.testing.assert_close(torch.compile(net)(x), net(x))


def test_traffic_grows_with_the_entries():
    """Shared entries move rows of b numbers, per-instance entries single numbers."""
    b = bench.CONFIG["batch"]
    per_entry = bench.traffic("identity", "hyperlib", 64) / bench.entries("identity", 64)
    assert per_entry == 2 * (2 * 8 + 4) + 4 + 7 * b * 4
    assert bench.traffic("identity", "hyperlib", 128) == 2 * bench.traffic("identity",
                                                                             "hyperlib", 64)
    assert bench.traffic("adaptive", "hyperlib", 64) == bench.entries("adaptive", 64) * 72
    assert bench.traffic("identity", "dense", 64) == 10 * 64 * 64 * 4


def test_identity_schemes_are_the_pool_and_the_boxes():
    """pool: every tuple over all k tuples' samples; boxes: 12 x 12 boxes. Neither has a
    modelled bandwidth share; the table prints '-' for it."""
    pool, boxes = bench.model("identity", "pool", 16), bench.model("identity", "boxes", 16)
    assert (pool.chunk, pool.grid) == (16, None) and (boxes.chunk, boxes.grid) == (1, 12)
    assert bench.traffic("identity", "pool", 16) is None
    result = bench.measure("identity", "boxes", 16, "cpu", warmup=0, steps=2, budget_s=0.01)
    assert result["bytes_per_s"] is None and result["step_s"] > 0
    row = {"task": "identity", "n": 16, "methods": {"boxes": result}}
    assert bench.table([row], 1e9).splitlines()[-1].rstrip().endswith("-")
    nbytes, flops = bench.footprint("identity", "pool", 4096)
    assert nbytes > 2**34 and flops > 0  # the full pool at n = 4,096 needs > 16 GiB


def test_bandwidth_is_a_plausible_rate():
    rate = bench.bandwidth("cpu", megabytes=8, repeats=2)
    assert 1e8 < rate < 1e13  # 0.1 GB/s .. 10 TB/s


def test_small_run_writes_every_method_with_before(tmp_path, capsys):
    """Glimpse task, two of its methods, the working tree also measured as its own 'before'."""
    out = tmp_path / "bench.json"
    bench.main(["--tasks", "glimpse", "--methods", "hyperlib", "coo", "--sizes", "16",
                "--warmup", "0", "--steps", "2", "--budget", "0.01", "--threads", "1",
                "--before", str(ROOT), "--json", str(out)])
    result = json.loads(out.read_text())
    assert result["before"] == str(ROOT) and result["bandwidth_bytes_per_s"] > 0
    assert [row["n"] for row in result["rows"]] == [16]
    for row in result["rows"]:
        assert set(row["methods"]) == {"hyperlib before", "hyperlib", "coo"}
        for method in row["methods"].values():
            assert method["steps"] == 2 and method["step_s"] > 0 and method["bytes_per_s"] > 0
    printed = capsys.readouterr().out
    assert "glimpse n" in printed and "hyperlib before" in printed


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(SystemExit):
        bench.main(["--sizes", "1"])
    with pytest.raises(SystemExit):
        bench.main(["--before", str(tmp_path)])
    with pytest.raises(SystemExit):
        bench.main(["--tasks", "nonsense"])
