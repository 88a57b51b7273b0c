"""The experiment harness (hyperlib.experiments.harness, results): the shared loop, arguments
and saving, and each command's behaviour under bad values, interruption and divergence."""

import json
import math
import time

import matplotlib
import pytest
import torch
from torch import nn

from hyperlib import bench
from hyperlib.experiments import attention, harness, identity, results, sort

matplotlib.use("Agg")

COMMANDS = {"identity": identity.main, "sort": sort.main, "attention": attention.main,
            "bench": bench.main}
SMALL = {  # the smallest real run of each command
    "identity": ["--scale", "smoke", "--sizes", "4", "--iterations", "4", "--seeds", "0", "1"],
    "sort": ["--scale", "smoke", "--protocol", "neuralsort", "--sizes", "3", "--methods",
             "softsort", "--iterations", "2", "--seeds", "0", "1"],
    "attention": ["--scale", "smoke", "--models", "mlp", "--iterations", "2", "--seeds", "0", "1"],
}


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ("identity", ["--iterations", "0"]), ("identity", ["--iterations", "-5"]),
        ("identity", ["--batch", "0"]), ("identity", ["--lr", "0"]),
        ("identity", ["--lr", "-1"]), ("identity", ["--lr", "nan"]),
        ("identity", ["--lr", "inf"]), ("identity", ["--sizes", "0"]),
        ("identity", ["--sizes", "3"]),  # region 4 does not fit in n = 3
        ("identity", ["--region", "0"]), ("identity", ["--samples", "-1", "-1"]),
        ("identity", ["--device", "bogus"]), ("identity", ["--seeds", "-1"]),
        ("identity", ["--batch", "1"]),  # REINFORCE's baseline needs two instances
        ("sort", ["--lr", "0"]), ("sort", ["--sizes", "0"]), ("sort", ["--batch", "0"]),
        ("sort", ["--iterations", "2.5"]), ("sort", ["--scale", "huge"]),
        ("attention", ["--glimpses", "0"]), ("attention", ["--k", "0"]),
        ("attention", ["--iterations", "0"]), ("attention", ["--device", "gpu"]),
        ("bench", ["--steps", "0"]), ("bench", ["--steps", "-1"]), ("bench", ["--warmup", "-5"]),
        ("bench", ["--budget", "nan"]), ("bench", ["--threads", "0"]),
    ],
)
def test_a_bad_value_is_a_usage_error(command, argv, tmp_path, capsys):
    start = time.perf_counter()
    out = ["--json", str(tmp_path / "b.json")] if command == "bench" else ["--out", str(tmp_path)]
    with pytest.raises(SystemExit) as exit_:
        COMMANDS[command]([*argv, *out])
    assert exit_.value.code == 2 and "error:" in capsys.readouterr().err
    assert time.perf_counter() - start < 5 and not list(tmp_path.glob("*.json"))


def test_a_bad_scale_in_the_environment_is_a_usage_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("HYPERLIB_SCALE", "huge")
    with pytest.raises(SystemExit) as exit_:
        identity.main(["--out", str(tmp_path)])
    assert exit_.value.code == 2 and "HYPERLIB_SCALE" in capsys.readouterr().err


@pytest.mark.parametrize("command", [*SMALL, "bench"])
def test_an_unwritable_out_fails_before_any_training(command, tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    start = time.perf_counter()
    with pytest.raises(SystemExit) as exit_:
        if command == "bench":
            bench.main(["--sizes", "64", "--json", str(blocker / "bench.json")])
        else:
            COMMANDS[command]([*SMALL[command], "--out", str(blocker / "out")])
    assert exit_.value.code == 2 and "cannot write there" in capsys.readouterr().err
    assert time.perf_counter() - start < 5


def test_the_scale_comes_from_the_environment_when_not_given(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERLIB_SCALE", "smoke")
    identity.main(["--sizes", "4", "--seeds", "0", "--out", str(tmp_path)])
    record = results.load(tmp_path / "backprop-fixed-smoke.json")
    assert record["scale"] == "smoke" and record["runs"][0]["iterations"] == 300


@pytest.mark.parametrize("command", ["sort", "attention"])
def test_an_interrupted_command_keeps_its_finished_runs(command, monkeypatch, tmp_path, capsys):
    module = {"sort": sort, "attention": attention}[command]
    real, calls = module.train, []

    def train_then_interrupt(cfg, *args, **kwargs):
        calls.append(cfg)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(cfg, *args, **kwargs)

    monkeypatch.setattr(module, "train", train_then_interrupt)
    with pytest.raises(SystemExit) as exit_:
        module.main([*SMALL[command], "--out", str(tmp_path)])
    assert exit_.value.code == 130 and "1 of 2 runs finished" in capsys.readouterr().err
    (path,) = tmp_path.glob("*.json")
    record = json.loads(path.read_text())  # valid JSON
    assert not record["complete"] and [run["seed"] for run in record["runs"]] == [0]
    assert record["runs"][0]["status"] == "ok" and "finished" in record["runs"][0]
    assert not list(tmp_path.glob(".*.tmp"))


def test_a_save_that_fails_midway_leaves_the_old_file(tmp_path, monkeypatch):
    path = results.save(tmp_path / "r.json", {"runs": [1, 2]})
    assert path.stat().st_mode & 0o777 == 0o644  # readable by all, unlike a fresh mkstemp file
    before = path.read_text()
    with pytest.raises(TypeError):  # the second key cannot be written
        results.save(path, {"runs": [3], "bad": object()})

    def killed(*args):
        raise KeyboardInterrupt

    monkeypatch.setattr("os.replace", killed)
    with pytest.raises(KeyboardInterrupt):  # interrupted between writing and replacing
        results.save(path, {"runs": [4]})
    assert path.read_text() == before and results.load(path) == {"runs": [1, 2]}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]  # no temporary file left


def test_a_diverging_run_is_reported_and_recorded(monkeypatch, tmp_path, capsys):
    real = identity.loss
    monkeypatch.setattr(identity, "loss", lambda *args: real(*args) * math.nan)
    with pytest.raises(SystemExit) as exit_:
        identity.main([*SMALL["identity"], "--out", str(tmp_path)])
    assert exit_.value.code == 1
    captured = capsys.readouterr()
    assert "the parameters are not finite at step 2" in captured.err  # NaN from step 1 on
    assert "diverged  diverged" in captured.out  # the table names both seeds' runs
    record = results.load(tmp_path / "backprop-fixed-smoke-it4.json")
    assert record["complete"] and [run["status"] for run in record["runs"]] == ["diverged"] * 2
    assert record["runs"][0]["steps"] == [0] and results.finished(record["runs"]) == []


def _quadratic(target: float):
    """A one-parameter model, its optimizer and its loss (w - target)^2."""
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.25)
    return model, optimizer, lambda step: (model.weight - target).pow(2).sum()


def test_fit_evaluates_selects_and_restores_the_best_checkpoint():
    model, optimizer, loss = _quadratic(1.0)
    metric = iter([5.0, 1.0, 3.0, 1.0])  # the second evaluation is best (the first of two 1.0s)
    seen = []
    curves = harness.fit(model, optimizer, loss, lambda: next(metric), iterations=7,
                         eval_every=2, select="min", after_step=seen.append)
    assert curves.steps == [2, 4, 6, 7] and curves.metric == [5.0, 1.0, 3.0, 1.0]
    assert curves.best_step == 4 and seen == list(range(8))
    assert model.weight.item() == pytest.approx(1 - 0.5**4)  # the weight after step 4
    assert curves.loss[0] == pytest.approx((1 + 0.25) / 2)  # mean of steps 1 and 2


def test_fit_from_the_start_without_selection_keeps_the_final_model():
    model, optimizer, loss = _quadratic(1.0)
    curves = harness.fit(model, optimizer, loss, lambda: 0.0, iterations=3, eval_every=3,
                         select=None, from_start=True)
    assert curves.steps == [0, 3] and curves.loss[0] is None and curves.best_step == 3
    assert model.weight.item() == pytest.approx(1 - 0.5**3)


def test_fit_stops_a_run_whose_loss_metric_or_parameters_are_not_finite():
    model, optimizer, loss = _quadratic(math.inf)
    with pytest.raises(harness.Diverged, match="training loss is inf at step 1") as error:
        harness.fit(model, optimizer, loss, lambda: 0.0, iterations=9, eval_every=1)
    assert error.value.fit.steps == [1]
    model, optimizer, loss = _quadratic(1.0)
    with pytest.raises(harness.Diverged, match="metric is nan at step 1"):
        harness.fit(model, optimizer, loss, lambda: math.nan, iterations=3, eval_every=1)

    def refuses(step):  # a layer that refuses its non-finite parameters, as hyperlib's do
        if not torch.isfinite(model.weight).all():
            raise ValueError("non-finite numbers")
        return loss(step)

    model, optimizer, loss = _quadratic(math.inf)
    with pytest.raises(harness.Diverged, match="parameters are not finite at step 2"):
        harness.fit(model, optimizer, refuses, lambda: 0.0, iterations=9, eval_every=5)

    def broken(step):  # a bug of its own, with finite parameters: not a divergence
        raise ValueError("a bug")

    model, optimizer, loss = _quadratic(1.0)
    with pytest.raises(ValueError, match="a bug"):
        harness.fit(model, optimizer, broken, lambda: 0.0, iterations=2, eval_every=1)


def test_evaluating_switches_mode_and_gradients_off_and_back():
    model = nn.Dropout().train()
    with harness.evaluating(model):
        assert not model.training and not torch.is_grad_enabled()
    assert model.training and torch.is_grad_enabled()
    model.eval()
    with pytest.raises(RuntimeError), harness.evaluating(model):
        raise RuntimeError
    assert not model.training


def test_combine_keeps_the_run_that_finished_last_whatever_the_file_order():
    run = {"size": 4, "method": "softsort", "proposal": "swaps", "seed": 0}
    new = {"protocol": "paper", "machine": {"date": "2026-11-29"}, "runs": [{**run, "v": "new"}]}
    old = {"protocol": "paper", "machine": {"date": "2026-11-25"}, "runs": [{**run, "v": "old"}]}
    timed = {"protocol": "paper", "machine": {"date": "2026-11-20"},
             "runs": [{**run, "v": "timed", "finished": "2026-11-29T10:00:00"}]}
    for order in ([new, old], [old, new]):
        assert [r["v"] for r in sort.combine(order)["runs"]] == ["new"]
    assert [r["v"] for r in sort.combine([timed, new, old])["runs"]] == ["timed"]


def test_the_stored_results_do_not_move_with_the_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("HYPERLIB_DATA", str(tmp_path))  # where MNIST and its cache go
    assert (results.stored("sort") / "paper-classroom.json").is_file()
    assert results.stored("identity").parent.parent.name == "data"


def _reproduces(command: str, model: nn.Module, run: dict) -> bool:
    """Does a loaded model give its run's own final numbers?"""
    if command == "identity":
        means = identity.tuples(model)[0]
        saved = torch.tensor(run["snapshots"][str(run["iterations"])]["means"])
        return torch.allclose(means, saved, atol=1e-3)
    if command == "sort":
        cfg = sort.Config(run["method"], run["size"], run["digits"], test_lists=run["test_lists"])
        return sort.accuracy(model, sort.heldout_lists(cfg)) == run["test"]
    test = attention.images(run["dataset"], "test")
    return attention.error(model, test, run["test_size"]) == run["test_error"]


@pytest.mark.parametrize("command", ["identity", "sort", "attention"])
def test_saved_models_load_with_weights_only_and_give_their_runs_numbers(command, tmp_path):
    module = {"identity": identity, "sort": sort, "attention": attention}[command]
    module.main([*SMALL[command], "--save-models", "--out", str(tmp_path)])
    saved = sorted(tmp_path.glob("*.pt"))
    assert [p.name.rsplit("-", 1)[1] for p in saved] == ["seed0.pt", "seed1.pt"]
    for path, run in zip(saved, results.load(next(tmp_path.glob("*.json")))["runs"], strict=True):
        model, record = module.load(path)  # torch.load(..., weights_only=True) inside
        assert not model.training and record["seed"] == run["seed"]
        assert _reproduces(command, model, run)


def test_a_saved_model_trained_otherwise_than_expected_is_refused(tmp_path):
    sort.main([*SMALL["sort"], "--save-models", "--out", str(tmp_path)])
    path = sorted(tmp_path.glob("*.pt"))[0]
    _, run = sort.load(path)
    fields = {k: run[k] for k in ("iterations", "batch", "lr", "eval_every", "val_lists",
                                  "test_lists", "seed")}
    assert sort.load(path, expect=sort.Config("softsort", 3, 4, **fields))[1] == run
    with pytest.raises(ValueError, match=r"lr 0\.001 \(wanted 0\.5\)"):
        sort.load(path, expect=sort.Config("softsort", 3, 4, **{**fields, "lr": 0.5}))


def test_without_save_models_no_model_is_written(tmp_path):
    sort.main([*SMALL["sort"], "--out", str(tmp_path)])
    assert not list(tmp_path.glob("*.pt"))


STORED_MODELS = sorted(results.models("sort").glob("*.pt")) + sorted(
    results.models("attention").glob("*.pt"))


def test_the_notebooks_models_are_stored():
    assert len(STORED_MODELS) == 4, "07 and 08 load two models each"
    assert all(path.stat().st_size < 2_000_000 for path in STORED_MODELS), "a few hundred kB each"


@pytest.mark.parametrize("path", STORED_MODELS, ids=[p.name for p in STORED_MODELS])
def test_a_stored_model_gives_its_runs_test_numbers(path):
    command = path.parent.name
    module = {"sort": sort, "attention": attention}[command]
    model, run = module.load(path)
    classroom = module.SCALES["classroom"]  # the notebooks' live runs at their default scale
    assert {key: run[key] for key in classroom} == classroom and run["seed"] == 0
    assert _reproduces(command, model, run)
