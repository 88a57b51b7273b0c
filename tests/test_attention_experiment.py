"""The attention experiment (hyperlib.experiments.attention): runs, selection, tables, command."""

import json
import math

import matplotlib
import matplotlib.pyplot as plt
import pytest
import torch

from hyperlib.attention import GlimpseClassifier, MLPClassifier
from hyperlib.experiments import attention
from hyperlib.experiments.attention import DATASETS, Config, build, error, images

matplotlib.use("Agg")


@pytest.mark.parametrize("dataset", list(DATASETS))
def test_image_sets_have_their_sizes_and_are_fixed(dataset):
    side = DATASETS[dataset]["canvas"]
    x = images(dataset, "test")[:3][0]
    assert x.shape == (3, 1, side, side) and Config(dataset, "mlp").in_shape == (1, side, side)
    assert x.equal(images(dataset, "test")[:3][0]) and 0 <= x.min() and x.max() <= 1
    assert len(images(dataset, "val")) == 5000 and len(images(dataset, "train")) == 55_000


def test_build_makes_each_model_for_the_image_size():
    model = build(Config("cluttered60", "glimpse", k=2, glimpses=3))
    assert isinstance(model, GlimpseClassifier) and model.glimpse.out_shape == (3, 1, 2, 2)
    assert isinstance(build(Config("mnist", "mlp")), MLPClassifier)
    assert {type(build(Config("mnist", m))).__name__ for m in attention.MODELS} == {
        "GlimpseClassifier", "BoxesClassifier", "SpatialTransformer", "ConvClassifier",
        "MLPClassifier"}


def test_a_run_selects_the_best_validation_checkpoint_and_tests_it():
    cfg = Config("mnist", "glimpse", iterations=9, batch=16, eval_every=3, val_size=96,
                 test_size=64)
    model, run = attention.train(cfg)
    assert not model.training and run["steps"] == [3, 6, 9] and len(run["loss"]) == 3
    best = run["val_error"].index(min(run["val_error"]))  # the first of equal errors
    assert run["best_step"] == run["steps"][best]
    assert error(model, images("mnist", "val"), 96) == run["val_error"][best]
    assert error(model, images("mnist", "test"), 64) == run["test_error"]
    assert run["parameters"] == sum(p.numel() for p in model.parameters())


def test_error_counts_wrong_labels():
    class Constant(MLPClassifier):  # always says 7
        def logits(self, x, generator):
            return torch.nn.functional.one_hot(torch.full((len(x),), 7), 10).float()

    data = images("mnist", "test")
    labels = data[:300][1]
    assert error(Constant((1, 28, 28)), data, 300, batch=128) == (labels != 7).float().mean()


@pytest.mark.parametrize(
    ("options", "match"),
    [({"dataset": "cifar"}, "dataset"), ({"model": "ram"}, "model"),
     ({"iterations": 0}, "iterations"), ({"batch": 0}, "batch"), ({"view": 3}, "view"),
     ({"transform": "tps"}, "transform"), ({"locator_lr": -1.0}, "locator_lr"),
     ({"supersample": 0}, "supersample"), ({"model": "cnn", "anneal": True}, "anneal")],
)
def test_bad_config_is_refused(options, match):
    with pytest.raises(ValueError, match=match):
        Config(**{"dataset": "mnist", "model": "glimpse", **options})


def _run(dataset, model, error, seed=0, **config):
    return {"dataset": dataset, "model": model, "seed": seed, "test_error": error,
            "glimpses": 4, "k": 3, "iterations": 3000, "schedule": "constant", "fresh": False,
            **config}


def test_table_gives_mean_and_spread_beside_the_published_errors():
    runs = [_run("cluttered60", "glimpse", e, seed) for seed, e in enumerate((0.04, 0.06))]
    runs += [_run("mnist", "cnn", 0.01, seed) for seed in (0, 1)] + [_run("mnist", "mlp", 0.1)]
    record = {"runs": runs}
    assert attention.summary(record)[("cluttered60", "glimpse 4x3x3 3k")] == pytest.approx(
        (5.0, 1.0, 2))
    text = attention.table(record)
    assert "5.00±1.00" in text and "1.00±0.00" in text and "10.00 (1)" in text
    assert "2-layer convnet 8.09" in text and "RAM, 6 glimpses 1.12" in text
    assert text.index("mnist") < text.index("cluttered60")  # rows in the order of DATASETS
    assert text.index("glimpse") < text.index("cnn") < text.index("mlp")  # columns: MODELS


def test_variants_of_a_model_are_columns_of_their_own():
    paper, longer = _run("cluttered60", "glimpse", 0.3), _run(
        "cluttered60", "glimpse", 0.1, glimpses=16, k=5, iterations=24000, schedule="cosine")
    assert attention.variant(longer) == "glimpse 16x5x5 24k cosine"
    assert attention.variant({**longer, "fresh": True}) == "glimpse 16x5x5 24k cosine fresh"
    assert attention.variant(_run("mnist", "cnn", 0.1, glimpses=16)) == "cnn 3k"
    slow = _run("mnist", "stn", 0.1, locator_lr=0.1)
    assert attention.variant(slow) == "stn 4x3x3 locator x0.1 3k"
    assert attention.variant({**slow, "transform": "box"}) == "stn 4x3x3 box locator x0.1 3k"
    assert attention.variant(_run("mnist", "stn", 0.1, locator_lr=1.0)) == "stn 4x3x3 3k"
    old = {key: value for key, value in paper.items() if key not in ("schedule", "fresh")}
    record = attention.combine([{"scale": "classroom", "machine": {}, "runs": [longer]},
                                {"scale": "classroom", "machine": {}, "runs": [old]}])
    assert sorted(attention.variant(r) for r in record["runs"]) == [
        "glimpse 16x5x5 24k cosine", "glimpse 4x3x3 3k"]  # neither replaced the other
    text = attention.table(record)
    assert text.index("glimpse 4x3x3 3k") < text.index("glimpse 16x5x5 24k cosine")
    assert "30.00" in text and "10.00" in text and "30.00±" not in text  # one seed: no spread


def test_plot_draws_one_line_per_variant_and_names_the_anchors():
    runs = [_run("cluttered60", "glimpse", 0.3, steps=[1, 2], val_error=[0.5, 0.3]),
            _run("cluttered60", "glimpse", 0.1, k=5, steps=[1, 2, 3], val_error=[0.4, 0.2, 0.1]),
            _run("mnist", "cnn", 0.01, steps=[1, 2], val_error=[0.1, 0.02])]
    fig = attention.plot({"runs": runs})
    left, right = fig.axes
    assert [line.get_label() for line in left.lines if not line.get_label().startswith("_")] == [
        "cnn 3k"]
    assert [line.get_label() for line in right.lines if not line.get_label().startswith("_")] == [
        "glimpse 4x3x3 3k", "glimpse 4x5x5 3k"]
    texts = [t.get_text() for t in right.texts]
    assert "RAM, 8 glimpses 4.04; RAM, 6 glimpses 4.08" in texts and len(texts) == 3
    plt.close(fig)


def test_command_writes_results_and_figure(tmp_path, capsys):
    attention.main(["--scale", "smoke", "--models", "glimpse", "mlp", "--seeds", "0", "1",
                    "--iterations", "4", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "smoke-mnist-glimpse-mlp-it4-seeds0-1.json").read_text())
    assert record["experiment"] == "attention" and record["scale"] == "smoke"
    assert record["task"] == attention.PROTOCOL and record["complete"]
    assert record["machine"]["device"] == "cpu" and "torch" in record["machine"]
    assert [(r["model"], r["seed"], r["iterations"]) for r in record["runs"]] == [
        ("glimpse", 0, 4), ("glimpse", 1, 4), ("mlp", 0, 4), ("mlp", 1, 4)]
    assert all(0 <= r["test_error"] <= 1 and r["wall_s"] >= 0 for r in record["runs"])
    assert "RAM, 6 glimpses 1.12" in capsys.readouterr().out
    assert (tmp_path / "smoke-mnist-glimpse-mlp-it4-seeds0-1.png").stat().st_size > 10_000


def test_command_takes_the_glimpse_shape(tmp_path):
    attention.main(["--scale", "smoke", "--models", "glimpse", "--seeds", "0", "--iterations", "2",
                    "--glimpses", "2", "--k", "4", "--view", "7", "--schedule", "cosine",
                    "--out", str(tmp_path)])
    name = "smoke-mnist-glimpse-it2-glimpses2-k4-view7-cosine-seeds0.json"
    record = json.loads((tmp_path / name).read_text())
    assert [(r["glimpses"], r["k"], r["view"], r["schedule"]) for r in record["runs"]] == [
        (2, 4, 7, "cosine")]
    assert attention.variant(record["runs"][0]) == "glimpse 2x4x4 view 7 0.002k cosine"


def test_anneal_decays_the_glimpses_sigma_to_its_floor_by_the_last_step():
    cfg = Config("mnist", "glimpse", iterations=10, batch=8, eval_every=10, val_size=16,
                 test_size=16, anneal=True)
    assert attention.sigma_scale(cfg, 0, 0.1) == pytest.approx(0.1)
    assert attention.sigma_scale(cfg, 5, 0.1) == pytest.approx(0.1 * (0.05 + 0.95 / 2))
    assert attention.sigma_scale(cfg, 10, 0.1) == pytest.approx(0.1 * attention.ANNEAL_FLOOR)
    assert attention.sigma_scale(Config("mnist", "glimpse"), 10, 0.1) == 0.1  # no anneal
    model, run = attention.train(cfg)
    assert model.glimpse.sigma_scale == pytest.approx(0.005) and run["anneal"]
    assert attention.variant(run) == "glimpse 4x3x3 0.01k anneal"


def test_command_takes_the_stn_locators_rate(tmp_path):
    attention.main(["--scale", "smoke", "--models", "stn", "--seeds", "0", "--iterations", "2",
                    "--locator-lr", "0.1", "--transform", "box", "--out", str(tmp_path)])
    name = "smoke-mnist-stn-it2-transformbox-locator_lr0.1-seeds0.json"
    record = json.loads((tmp_path / name).read_text())
    assert [(r["transform"], r["locator_lr"]) for r in record["runs"]] == [("box", 0.1)]


def test_command_takes_the_hidden_width(tmp_path):
    attention.main(["--scale", "smoke", "--models", "glimpse", "cnn", "--seeds", "0",
                    "--iterations", "2", "--hidden", "32", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "smoke-mnist-glimpse-cnn-it2-hidden32-seeds0.json").read_text())
    assert [(r["model"], r["hidden"]) for r in record["runs"]] == [("glimpse", 32), ("cnn", 32)]
    assert attention.variant(record["runs"][0]) == "glimpse 4x3x3 hidden 32 0.002k"
    assert attention.build(Config("mnist", "glimpse", hidden=32)).classify[1].out_features == 32


@pytest.mark.parametrize("name", ["constant", "cosine"])
def test_schedule_gives_the_learning_rate_of_each_step(name):
    cfg = Config("mnist", "glimpse", iterations=8, lr=0.01, schedule=name)
    optimizer = torch.optim.Adam([torch.zeros(1, requires_grad=True)], lr=cfg.lr)
    decay = attention.schedule(optimizer, cfg)
    rates = []
    for _ in range(cfg.iterations + 1):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        decay.step()
    steps = torch.arange(cfg.iterations + 1, dtype=torch.float64)
    cosine = (1 + torch.cos(math.pi * steps / cfg.iterations)) / 2
    factor = cosine if name == "cosine" else torch.ones_like(steps)
    torch.testing.assert_close(torch.tensor(rates, dtype=torch.float64), 0.01 * factor)
    with pytest.raises(ValueError, match="schedule"):
        Config("mnist", "glimpse", schedule="linear")


def test_help_lists_the_options(capsys):
    with pytest.raises(SystemExit) as exit_:
        attention.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    for option in ("--datasets", "--models", "--seeds", "--iterations", "--batch", "--lr",
                   "--device", "--out", "--scale", "--glimpses", "--k", "--view", "--locator-lr",
                   "--transform", "--schedule", "--hidden"):
        assert option in text


def test_records_of_one_scale_combine_and_of_two_do_not():
    def run(dataset, model, seed, error):
        return _run(dataset, model, error, seed)

    a = {"scale": "classroom", "machine": {"device": "cpu"},
         "runs": [run("mnist", "glimpse", 0, 0.05), run("mnist", "cnn", 0, 0.02)]}
    b = {"scale": "classroom", "machine": {"device": "cuda"},
         "runs": [run("cluttered60", "glimpse", 0, 0.1), run("mnist", "cnn", 0, 0.03)]}
    both = attention.combine([a, b])
    assert [(r["dataset"], r["model"], r["test_error"]) for r in both["runs"]] == [
        ("mnist", "glimpse", 0.05), ("mnist", "cnn", 0.03), ("cluttered60", "glimpse", 0.1)]
    assert both["machines"] == [{"device": "cpu"}, {"device": "cuda"}]
    assert both["machine"] == {"device": "cpu"} and both["scale"] == "classroom"
    with pytest.raises(ValueError, match="scales"):
        attention.combine([a, {**b, "scale": "paper"}])


def test_combine_keeps_runs_that_differ_only_in_hidden_width():
    """A run at --hidden 256 is another variant, not a rerun of the width-64 one; a run from
    before --hidden (no field) is width 64."""
    old = _run("cluttered60", "glimpse", 0.09, 0)  # no "hidden" field
    wide = {**_run("cluttered60", "glimpse", 0.07, 0), "hidden": 256}
    narrow = {**_run("cluttered60", "glimpse", 0.08, 0), "hidden": 64}
    record = {"scale": "classroom", "machine": {"device": "cpu"}}
    both = attention.combine([{**record, "runs": [old]}, {**record, "runs": [wide]}])
    assert sorted(r["test_error"] for r in both["runs"]) == [0.07, 0.09]
    rerun = attention.combine([{**record, "runs": [old]}, {**record, "runs": [narrow]}])
    assert [r["test_error"] for r in rerun["runs"]] == [0.08]


def test_train_takes_a_model_of_ones_own():
    class Boxes(GlimpseClassifier):  # a control: the classifier reads only the boxes
        def __init__(self):
            super().__init__((1, 28, 28))
            self.classify = torch.nn.Linear(16, 10)

        def logits(self, x, generator):
            return self.classify(self.glimpse.boxes(x).flatten(1))

    cfg = Config("mnist", "glimpse", iterations=4, batch=8, eval_every=2, val_size=32,
                 test_size=32)
    mine = Boxes()
    model, run = attention.train(cfg, model=mine)
    assert model is mine and not model.training and run["steps"] == [2, 4]
    assert run["parameters"] == sum(p.numel() for p in mine.parameters())


def test_fresh_training_images_are_drawn_anew_every_pass(monkeypatch):
    first, second = images("cluttered60", "train"), images("cluttered60", "train", draw=1)
    assert second.labels.equal(first.labels) and second.images.equal(first.images)
    assert not second.corner.equal(first.corner) and not second.place.equal(first.place)
    assert images("cluttered60", "train", draw=0).corner.equal(first.corner)

    drawn = []

    def recording(dataset, split, draw=0):
        drawn.append((split, draw))
        return images(dataset, split, draw)

    monkeypatch.setattr(attention, "images", recording)
    batch = 20_000  # three batches a pass over the 55,000 training images
    for fresh, expected in ((True, [0, 1]), (False, [0])):
        drawn.clear()
        cfg = Config("mnist", "mlp", iterations=4, batch=batch, eval_every=4, val_size=8,
                     test_size=8, fresh=fresh)
        attention.train(cfg)
        assert [draw for split, draw in drawn if split == "train"] == expected
