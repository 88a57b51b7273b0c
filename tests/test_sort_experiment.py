"""The sorting experiment (hyperlib.experiments.sort): relaxations, metrics, runs, command."""

import json

import matplotlib
import pytest
import torch

from hyperlib.experiments import sort
from hyperlib.experiments.sort import METHODS, Config, Method, accuracy, neuralsort, softsort

matplotlib.use("Agg")


def _hard(keys):
    return sort.permutation(keys.argsort(dim=1), keys.dtype)  # (b, s, s)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("s", [3, 4, 7])
def test_every_relaxation_becomes_the_sorting_permutation_when_hard(method, s):
    """Spread keys (gaps of 10): each relaxed P is near the hard permutation matrix, with rows
    summing to 1 (diffsort: its network's rows too)."""
    keys = (torch.randperm(s, generator=torch.Generator().manual_seed(s)) * 10.0).repeat(2, 1)
    keys = keys.double()
    model = Method(Config(method, s, tau=0.1, steepness=100.0), torch.device("cpu")).double()
    relaxed = model.relaxed(keys, torch.Generator().manual_seed(0))
    assert relaxed.shape == (2, s, s)
    torch.testing.assert_close(relaxed, _hard(keys), atol=0.02, rtol=0)
    torch.testing.assert_close(relaxed.sum(-1), torch.ones(2, s, dtype=torch.float64), atol=1e-3,
                               rtol=0)


def test_neuralsort_and_softsort_soften_with_tau():
    keys = torch.tensor([[0.3, -1.0, 2.0, 0.5]])
    for relax in (neuralsort, softsort):
        sharp, soft = relax(keys, 0.01), relax(keys, 10.0)
        torch.testing.assert_close(sharp, _hard(keys), atol=1e-3, rtol=0)
        assert soft.max() < 0.6 and (soft > 0.05).all()


def test_the_losses_are_finite_and_reach_the_scorer():
    """Every weight gets a gradient, except the keys' final bias: a shift of all keys changes
    no sort, so its gradient is zero (up to rounding) for every method."""
    torch.manual_seed(0)
    x = torch.rand(2, 4, 3, 28, 28)
    order = torch.tensor([[2, 0, 3, 1], [0, 1, 2, 3]])
    for method in METHODS:
        model = Method(Config(method, 4), torch.device("cpu"))
        loss = model.loss(x, order, torch.Generator().manual_seed(0))
        loss.backward()
        grads = dict(model.scorer.named_parameters())
        shift = grads.pop("mlp.2.bias").grad
        assert torch.isfinite(loss) and shift.abs().item() < 1e-5, method
        assert all(p.grad.abs().sum() > 1e-6 for p in grads.values()), method


class Fixed(torch.nn.Module):
    """A 'scorer' that returns given keys for given inputs (indexed by x[:, 0, 0, 0, 0])."""

    def __init__(self, keys):
        super().__init__()
        self.keys = keys

    def forward(self, x):
        return self.keys[x[:, 0, 0, 0, 0].long()]


def test_accuracy_counts_exact_lists_positions_and_ties_either_way():
    numbers = torch.tensor([[3, 1, 2, 0], [5, 5, 1, 2], [1, 2, 3, 4]])
    keys = torch.tensor([[3.0, 1, 2, 0], [1, 0.9, -1, 0.5], [1, 2, 4, 3]])  # right, right, 2 wrong
    x = torch.arange(3.0).view(3, 1, 1, 1, 1).expand(3, 4, 1, 1, 1)
    metrics = accuracy(Fixed(keys), (x, numbers))
    assert metrics["exact"] == pytest.approx(2 / 3)
    assert metrics["position"] == pytest.approx(10 / 12)
    assert metrics["ties"] == pytest.approx(1 / 3)


def test_a_run_selects_a_checkpoint_and_tests_once():
    cfg = Config("quicksort", 4, iterations=6, batch=4, eval_every=3, val_lists=16,
                 test_lists=16)
    scorer, run = sort.train(cfg)
    assert not scorer.training
    assert accuracy(scorer, sort.heldout_lists(cfg)) == run["test"]  # the selected checkpoint
    assert run["steps"] == [3, 6] and len(run["val_exact"]) == 2
    assert run["best_step"] in (3, 6) and set(run["test"]) == {"exact", "position", "ties"}
    assert 0 <= run["test"]["exact"] <= run["test"]["position"] <= 1
    assert run["lists"] == 4 and Config("softsort", 16).lists == 4
    assert Config("softsort", 3).lists == 21  # about 64 numbers per batch


@pytest.mark.parametrize(
    ("options", "match"),
    [({"method": "bogo"}, "method"), ({"size": 1}, "size"), ({"iterations": 0}, "iterations"),
     ({"proposal": "gumbel"}, "proposal")],
)
def test_bad_config_is_refused(options, match):
    with pytest.raises(ValueError, match=match):
        Config(**{"method": "quicksort", "size": 4, **options})


def test_command_writes_results_table_and_figure(tmp_path, capsys):
    sort.main(["--scale", "smoke", "--protocol", "neuralsort", "--sizes", "3", "--methods",
               "quicksort-perm", "diffsort", "--seeds", "0", "1", "--iterations", "4",
               "--out", str(tmp_path)])
    name = "neuralsort-smoke-s3-quicksort-perm-diffsort-it4"  # the iterations given: in the name
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert record["protocol"] == "neuralsort" and record["machine"]["device"] == "cpu"
    assert record["task"] == sort.PROTOCOL and record["complete"]
    assert [(r["method"], r["seed"], r["digits"]) for r in record["runs"]] == [
        ("quicksort-perm", 0, 4), ("quicksort-perm", 1, 4), ("diffsort", 0, 4), ("diffsort", 1, 4)]
    assert "0.930 / 0.951" in capsys.readouterr().out  # the published row for n = 3
    assert (tmp_path / f"{name}.png").stat().st_size > 10_000


def test_records_of_one_protocol_combine_and_of_two_do_not():
    run = {"size": 4, "method": "softsort", "proposal": "swaps", "seed": 0, "test": 0.5}
    a = {"protocol": "paper", "machine": {"device": "cpu"}, "runs": [run, {**run, "seed": 1}]}
    b = {"protocol": "paper", "machine": {"device": "cuda"},
         "runs": [{**run, "size": 8}, {**run, "test": 0.9}]}  # a new size, and a rerun
    both = sort.combine([a, b])
    assert both["runs"] == [{**run, "test": 0.9}, {**run, "seed": 1}, {**run, "size": 8}]
    assert len(both["machines"]) == 2
    # a joined record brings its own list of machines
    again = sort.combine([both, {**b, "machine": {"device": "mps"}}])
    assert [m["device"] for m in again["machines"]] == ["cpu", "cuda", "mps"]
    with pytest.raises(ValueError, match="different protocols"):
        sort.combine([a, {**b, "protocol": "neuralsort"}])
    with pytest.raises(ValueError, match="no results"):
        sort.combine([])


def test_a_proposal_is_its_own_row_and_not_a_rerun():
    """The uniform and the swap quicksort of one size and seed are two runs, two rows."""
    test = {"exact": 0.5, "position": 0.75}
    run = {"size": 8, "method": "quicksort", "proposal": "swaps", "seed": 0, "test": test}
    uniform = {**run, "proposal": "uniform", "test": {"exact": 0.25, "position": 0.5}}
    baseline = {**run, "method": "diffsort"}
    record = sort.combine([{"protocol": "paper", "machine": {}, "runs": [run, uniform, baseline]}])
    assert len(record["runs"]) == 3
    assert [sort.variant(r) for r in record["runs"]] == ["quicksort", "quicksort uniform",
                                                         "diffsort"]
    stats = sort.summary(record)
    assert stats[(8, "quicksort uniform")][0] == (0.25, 0.0, 1)
    lines = sort.table(record).splitlines()
    assert [line.split("|")[0].strip() for line in lines[2:5]] == [
        "quicksort", "quicksort uniform", "diffsort"]


def test_the_uniform_command_names_its_file_and_records_the_proposal(tmp_path):
    sort.main(["--scale", "smoke", "--protocol", "paper", "--sizes", "4", "--methods", "quicksort",
               "--seeds", "0", "--iterations", "2", "--proposal", "uniform",
               "--out", str(tmp_path)])
    record = json.loads((tmp_path / "paper-smoke-s4-quicksort-it2-uniform.json").read_text())
    assert [run["proposal"] for run in record["runs"]] == ["uniform"]


def test_step_times_go_side_by_side_and_are_saved(tmp_path, capsys):
    timed = sort.step_times("paper", [4], ["quicksort", "neuralsort"], steps=2, warmup=1,
                            progress=False, batch=2)
    assert list(timed) == [4] and set(timed[4]) == {"quicksort", "neuralsort"}
    assert all(ms > 0 for ms in timed[4].values())
    sort.main(["--protocol", "paper", "--sizes", "4", "--methods", "quicksort", "neuralsort",
               "--batch", "2", "--time-steps", "2", "--out", str(tmp_path)])
    saved = json.loads((tmp_path / "steptime-paper.json").read_text())
    assert set(saved["ms_per_step"]["4"]) == {"quicksort", "neuralsort"}
    assert saved["options"] == {"batch": 2, "proposal": "swaps"} and saved["steps"] == 2
    assert "x: the ratio to NeuralSort's" in capsys.readouterr().out


def test_standing_compares_the_best_of_each_side_per_size():
    def run(method, exact, position, seed, proposal="swaps"):
        return {"size": 8, "method": method, "proposal": proposal, "seed": seed,
                "test": {"exact": exact, "position": position}}

    record = {"protocol": "paper", "runs": [
        run("quicksort", 0.10, 0.60, 0), run("quicksort", 0.20, 0.62, 1),  # 0.15 ± 0.05
        run("quicksort-perm", 0.12, 0.70, 0), run("quicksort-perm", 0.12, 0.70, 1),
        run("quicksort", 0.30, 0.80, 0, "uniform"),  # one seed, still a variant
        run("softsort", 0.40, 0.705, 0), run("softsort", 0.20, 0.705, 1),  # 0.30 ± 0.10
        run("diffsort", 0.25, 0.72, 0), run("diffsort", 0.25, 0.72, 1),
    ]}
    (row,) = sort.standing(record)
    assert row["quicksort"] == "quicksort uniform" and row["exact"] == (0.30, 0.0)
    assert row["baseline"] == "softsort" and row["baseline_exact"] == pytest.approx((0.30, 0.10))
    assert row["position"] == 0.80 and row["baseline_position"] == 0.72
    assert row["level_exact"] and row["level_position"]
    record["runs"] = record["runs"][:4] + record["runs"][5:]  # without the uniform run
    (row,) = sort.standing(record)
    assert row["quicksort"] == "quicksort" and row["exact"] == pytest.approx((0.15, 0.05))
    assert not row["level_exact"]  # 0.15 < 0.30 - 0.10
    assert row["position"] == 0.70 and not row["level_position"]  # 0.70 < 0.72 - 0.01
    assert "s =  8: exact quicksort 0.150±0.050 vs softsort 0.300±0.100 (short, -0.050)" in (
        sort.standing_table(record))
