"""Every widget factory, driven without a kernel: sweep each numeric control over its range."""

import ipywidgets as w
import pytest
from matplotlib.figure import Figure

from hyperlib import widgets

FACTORIES = {
    "neighbours_1d": widgets.neighbours_1d,
    "neighbours_2d": widgets.neighbours_2d,
    "samples_2d": widgets.samples_2d,
    "descent_2d": lambda: widgets.descent_2d(steps=10),
    "quicksort_2d": lambda: widgets.quicksort_2d(size=4),
}
SLIDERS = (w.FloatSlider, w.IntSlider, w.FloatLogSlider, w.ToggleButtons)


def _parts(box: w.VBox) -> tuple[list[w.ValueWidget], w.Image]:
    controls, image = box.children
    assert isinstance(image, w.Image)
    return list(controls.children), image


def _sweep(control: w.ValueWidget, points: int = 3) -> list:
    """Values across the control's range; every option of a choice (the last one stays set,
    so that the quicksort's seed, which only uniform proposals read, is swept under it)."""
    if isinstance(control, w.ToggleButtons):
        return list(control.options)
    low, high = control.min, control.max
    values = [low + (high - low) * i / (points - 1) for i in range(points)]
    if isinstance(control, w.IntSlider):
        values = [round(v) for v in values]
    if isinstance(control, w.FloatLogSlider):  # min and max are exponents
        values = [control.base**v for v in values]
    return values


@pytest.mark.parametrize("name", FACTORIES)
def test_every_control_redraws_over_its_range(name):
    box = FACTORIES[name]()
    controls, image = _parts(box)
    assert controls and all(isinstance(c, SLIDERS) for c in controls)
    assert bytes(image.value).startswith(b"\x89PNG")
    for control in controls:
        start = control.value
        for value in _sweep(control):
            before = bytes(image.value)
            control.value = value
            if value != start:
                assert bytes(image.value) != before, f"{control.description} = {value}: same image"
            start = control.value
            assert bytes(image.value).startswith(b"\x89PNG")


@pytest.mark.parametrize(
    "draw",
    [
        widgets.draw_neighbours_1d,
        widgets.draw_neighbours_2d,
        widgets.draw_samples,
        widgets.draw_quicksort,
    ],
)
def test_drawings_draw_on_a_given_figure(draw):
    fig = Figure()
    draw(fig)
    assert fig.axes


def test_neighbour_weights_sum_to_one_and_their_gradient_to_zero():
    import torch

    samples, weights, grad = widgets.neighbour_weights(
        torch.tensor([2.3, 1.6]), torch.tensor([0.6, 0.6]), [6, 6]
    )
    assert samples.shape == (4, 2)
    torch.testing.assert_close(weights.sum(), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(grad.sum(0), torch.zeros(2, dtype=torch.float64))


def test_descent_reaches_a_target_with_samples_and_not_without():
    import torch

    target = torch.tensor([11.0, 4.0])
    moved = widgets.descend((4.3, 10.6), 1.5, (11, 4), g=16, l=4, steps=60)
    stuck = widgets.descend((4.3, 10.6), 0.3, (11, 4), g=0, l=0, steps=20)
    assert (moved["means"][-1] - target).norm() < 2
    torch.testing.assert_close(stuck["means"][-1], stuck["means"][0])
    assert not stuck["hit"].any()


def test_tuple_status_names_diagonal_collision_and_off():
    import torch

    means = torch.tensor([[0.1, -0.2], [2.0, 2.3], [1.8, 2.2], [3.0, 1.0], [4.0, 4.0]])
    assert widgets.tuple_status(means) == ["diagonal", "collision", "collision", "off", "diagonal"]


def test_identity_widget_trains_on_every_control():
    """Each control retrains the layer (at the smallest budget) and redraws."""
    box = widgets.identity_2d(n=4, iterations=100)
    controls, image = _parts(box)
    names = [c.description for c in controls]
    assert names == ["n", "g", "l", "iterations", "scheme", "learn_values", "seed"]
    for control, value in zip(controls, [6, 0, 8, 200, "boxes", True, 3], strict=True):
        before = bytes(image.value)
        control.value = value
        assert bytes(image.value).startswith(b"\x89PNG") and bytes(image.value) != before, (
            control.description
        )


@pytest.mark.parametrize("proposal", ["swaps", "uniform"])
def test_quicksort_steps_end_in_the_sort_layers_soft_permutation(proposal):
    import torch

    from hyperlib.sort import SortLayer

    keys = torch.randn(8, dtype=torch.float64)
    steps = widgets.quicksort_steps(keys, certainty=2.0, candidates=5, seed=3, proposal=proposal)
    assert [tuple(step["splits"].shape) for step in steps] == [(1, 5, 8), (2, 5, 4), (4, 5, 2)]
    eye = torch.eye(8, dtype=torch.float64).unsqueeze(0)  # one-hot items: sorted = P @ items
    layer = SortLayer(8, certainty=2.0, candidates=5, proposal=proposal).train()
    soft, _ = layer(eye, keys.unsqueeze(0), torch.Generator().manual_seed(3))
    torch.testing.assert_close(steps[-1]["mix"], soft[0])


def _glimpse_model_and_data(count=12):
    import torch

    from hyperlib.attention import GlimpseClassifier

    torch.manual_seed(0)
    data = [torch.rand(count, 1, 28, 28, generator=torch.Generator().manual_seed(0)),
            torch.arange(count) % 10]
    return GlimpseClassifier((1, 28, 28), glimpses=2, k=3), data


class _Data:  # data[rows] -> (images, labels), as ClutteredMNIST
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.y)

    def __getitem__(self, rows):
        return self.x[rows], self.y[rows]


def test_read_pixels_are_the_glimpse_layers_evaluation_output():
    model, (x, _) = _glimpse_model_and_data()
    layer = model.glimpse.eval()
    seen = layer.look(x)
    out = layer(x)  # (b, G, C, k, k), values 1
    for i in (0, 5):
        assert widgets.read_pixels(x[i], seen, i).equal(out[i])


def test_glimpse_drawings_draw_on_a_given_figure():
    import torch

    model, (x, _) = _glimpse_model_and_data()
    seen = model.glimpse.look(x, torch.Generator().manual_seed(0))
    fig = Figure()
    widgets.draw_look(fig, x[3], seen, 3, label=3, predicted=4)
    assert len(fig.axes) == 2 + 2  # eval, train, one tile per glimpse
    ax = Figure().subplots()
    widgets.draw_glimpses(ax, x[3], seen, 3, samples=True)
    assert len(ax.patches) == 2 and ax.collections  # two boxes, samples


def test_glimpse_browser_shows_each_group_and_image():
    model, (x, y) = _glimpse_model_and_data()
    box = widgets.glimpse_browser(model, _Data(x, y), count=10)
    (show, image), picture = _parts(box)
    assert [value for _, value in show.options] == ["all", "correct", "wrong"]
    assert image.max == 9 and bytes(picture.value).startswith(b"\x89PNG")
    counts = {value: int(label.split("(")[1][:-1]) for label, value in show.options}
    assert counts["all"] == 10 == counts["correct"] + counts["wrong"]
    for group in ("wrong", "correct", "all"):
        before = bytes(picture.value)
        show.value = group
        assert image.max == max(counts[group] - 1, 0)
        assert bytes(picture.value).startswith(b"\x89PNG") and bytes(picture.value) != before
    before = bytes(picture.value)
    image.value = image.max
    assert bytes(picture.value) != before
