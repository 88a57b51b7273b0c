"""Glimpse hyperlayers and the attention experiment's models (hyperlib.attention)."""

from functools import partial

import pytest
import torch
from torch import nn

from hyperlib.attention import (
    BoxesClassifier,
    ConvClassifier,
    GlimpseClassifier,
    GlimpseLayer,
    MLPClassifier,
    SpatialTransformer,
    glimpse_template,
    grid,
    place_boxes,
)
from hyperlib.contract import contract

MODELS = (GlimpseClassifier, BoxesClassifier, SpatialTransformer, ConvClassifier, MLPClassifier)


class Constant(nn.Module):
    """A locator that ignores the image: the same raw box numbers (4 G,) for every image."""

    def __init__(self, raw):
        super().__init__()
        self.raw = nn.Parameter(raw)

    def forward(self, x):
        return self.raw.expand(x.size(0), -1)


def _images(b=3, c=1, side=28, seed=0, dtype=torch.float32):
    return torch.rand(b, c, side, side, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize("channels", [1, 2])
def test_glimpse_shapes_in_training_and_evaluation(channels):
    torch.manual_seed(0)
    layer = GlimpseLayer((channels, 32, 30), glimpses=3, k=2)
    x = torch.rand(4, channels, 32, 30)
    assert layer(x).shape == (4, 3, channels, 2, 2)
    assert layer.eval()(x).shape == (4, 3, channels, 2, 2)
    seen = layer.look(x)
    assert seen["boxes"].shape == (4, 3, 2, 2) and seen["points"].shape == (4, 3, 4, 2)
    assert seen["samples"].shape == (4, 3, 4, 4 + 8 + 8, 2) and seen["sigmas"].shape == (3, 2)
    torch.testing.assert_close(seen["weights"].sum(-1), torch.ones(4, 3, 4))


def test_template_reads_the_output_channel_and_starts_as_an_even_grid():
    template = glimpse_template(2, 3, 2)  # (G C k k, 7)
    assert template.shape == (24, 7)
    assert template[:, :4].tolist() == [[g, c, i, j] for g in range(2) for c in range(3)
                                        for i in range(2) for j in range(2)]
    assert (template[:, 4] == template[:, 1]).all() and (template[:, 5:] == 0).all()
    layer = GlimpseLayer((1, 28, 28), glimpses=2, k=3)
    torch.testing.assert_close(layer.raw_points.sigmoid(), grid(3).expand(2, 9, 2))
    assert grid(2).tolist() == [[0.25, 0.25], [0.25, 0.75], [0.75, 0.25], [0.75, 0.75]]


def test_evaluation_reads_exactly_the_rounded_points():
    """With a locator that ignores the image, the output depends on the G k k pixels at
    round(mu) and on nothing else: change every other pixel, the output stays; change one
    of them, its output unit changes."""
    torch.manual_seed(0)
    glimpses, k = 3, 2
    layer = GlimpseLayer((1, 28, 28), glimpses, k, locator=Constant(torch.randn(4 * glimpses)))
    layer.eval()
    x = _images()
    y = layer(x)  # (b, G, 1, k, k)
    points = layer.look(x)["points"]  # (b, G, k k, 2)
    b = torch.arange(3)[:, None, None]
    read = torch.zeros_like(x, dtype=torch.bool)
    read[b, 0, points[..., 0], points[..., 1]] = True
    assert y.flatten(1).equal(x[b, 0, points[..., 0], points[..., 1]].flatten(1))
    other = torch.where(read, x, torch.rand_like(x) + 2)  # every unread pixel changed
    assert layer(other).equal(y)
    x[0, 0, points[0, 1, 2, 0], points[0, 1, 2, 1]] += 5
    changed = (layer(x) != y).flatten(1)
    assert changed[0].sum() >= 1 and not changed[1:].any()
    indices, weights = layer.sparse(other)
    assert indices.shape == (3, glimpses * k * k, 7) and (weights == 1).all()
    assert layer(other).equal(contract(indices, weights, other, layer.out_shape))


def test_the_whole_model_reads_g_k_k_pixels_in_evaluation():
    """The classifier of the trained model sees only G k k values per image, and these are the
    pixels at the points look() reports."""
    torch.manual_seed(1)
    model = GlimpseClassifier((1, 60, 60)).eval()
    x = _images(side=60)
    indices, weights = model.glimpse.sparse(x)
    assert indices.shape == (3, 36, 7) and (weights == 1).all()
    pixels = indices[..., 5] * 60 + indices[..., 6]
    assert max(len(p.unique()) for p in pixels) <= 36
    points = model.glimpse.look(x)["points"].flatten(1, 2)  # (b, 36, 2)
    assert points.equal(indices[..., 5:])


def test_boxes_and_points_stay_inside_the_image():
    torch.manual_seed(0)
    locator = Constant(torch.randn(4 * 4) * 30)  # saturated sigmoids: extreme boxes
    layer = GlimpseLayer((1, 40, 50), locator=locator)
    seen = layer.look(_images(side=1).new_zeros(2, 1, 40, 50))
    corner, extent = seen["boxes"].unbind(-2)
    top = torch.tensor([39.0, 49.0])
    assert (corner >= 0).all() and (corner + extent <= top + 1e-4).all()
    assert (seen["means"] >= 0).all() and (seen["means"] <= top + 1e-4).all()
    assert (seen["samples"] >= 0).all() and (seen["samples"] <= top.long()).all()


@pytest.mark.parametrize("learn_values", [False, True])
def test_gradients_reach_every_parameter_of_the_glimpse_model(learn_values):
    """The reference code kept its glimpse layers in a plain list: none of them trained."""
    torch.manual_seed(0)
    model = GlimpseClassifier((1, 28, 28), learn_values=learn_values)
    names = {name for name, _ in model.named_parameters()}
    assert {"glimpse.raw_points", "glimpse.raw_sigmas", "glimpse.locator.0.weight"} <= names
    assert ("glimpse.values" in names) == learn_values
    loss = nn.functional.cross_entropy(model(_images(8), torch.Generator().manual_seed(0)),
                                       torch.arange(8) % 10)
    loss.backward()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


@pytest.mark.parametrize("cls", [*MODELS[1:], partial(SpatialTransformer, transform="box")])
def test_gradients_reach_every_parameter_of_the_baselines(cls):
    torch.manual_seed(0)
    model = cls((1, 28, 28))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):  # the STN's locator starts at the identity, its last weights zero:
        optimizer.zero_grad()  # its other layers get a gradient from the second step on
        nn.functional.cross_entropy(model(_images(8)), torch.arange(8) % 10).backward()
        optimizer.step()
    for name, parameter in model.named_parameters():
        assert parameter.grad is not None and parameter.grad.abs().sum() > 0, name


def test_float64_follows_the_parameters_and_a_wrong_dtype_is_refused():
    torch.manual_seed(0)
    model = GlimpseClassifier((1, 28, 28)).double()
    x = _images(dtype=torch.float64)
    assert model(x).dtype == torch.float64 and model.eval()(x).dtype == torch.float64
    seen = model.glimpse.look(x)
    assert seen["boxes"].dtype == seen["weights"].dtype == torch.float64
    with pytest.raises(TypeError, match="float32"):
        model(x.float())


def test_training_forward_matches_the_dense_reference():
    torch.manual_seed(0)
    layer = GlimpseLayer((1, 28, 28), glimpses=2, k=2).double()
    x = _images(2, dtype=torch.float64)
    fast = layer(x, torch.Generator().manual_seed(5))
    dense = layer.forward_dense(x, torch.Generator().manual_seed(5))
    torch.testing.assert_close(fast, dense)


def test_same_generator_same_output_in_training():
    torch.manual_seed(0)
    model = GlimpseClassifier((1, 28, 28))
    x = _images()
    first, again, other = (model(x, torch.Generator().manual_seed(s)) for s in (3, 3, 4))
    assert first.equal(again) and not first.equal(other)


@pytest.mark.parametrize("side", [28, 60, 100])
def test_baselines_have_the_glimpse_models_interface_and_about_its_size(side):
    torch.manual_seed(0)
    x = _images(2, side=side)
    sizes = {}
    for cls in MODELS:
        model = cls((1, side, side))
        assert model(x).shape == (2, 10) and model.eval()(x).shape == (2, 10)
        sizes[cls] = sum(p.numel() for p in model.parameters())
    glimpse = sizes[GlimpseClassifier]
    for cls in (BoxesClassifier, SpatialTransformer, ConvClassifier):
        assert abs(sizes[cls] - glimpse) < 0.1 * glimpse, (cls, sizes)
    assert sizes[MLPClassifier] == side * side * 64 + 64 + 650  # the classifier on every pixel


def test_spatial_transformer_starts_at_the_identity_and_learns_its_own_rate():
    torch.manual_seed(0)
    model = SpatialTransformer((1, 28, 28), locator_lr=0.25)
    theta = model.locator(_images(3)).view(3, 4, 2, 3)  # any image: the identity
    torch.testing.assert_close(theta, torch.tensor([[1.0, 0, 0], [0, 1, 0]]).expand(3, 4, 2, 3))
    locator, classify = model.param_groups(0.01)
    assert locator["lr"] == pytest.approx(0.0025) and classify["lr"] == 0.01
    ids = [{id(p) for p in group["params"]} for group in (locator, classify)]
    assert ids[0].isdisjoint(ids[1]) and ids[0] | ids[1] == {id(p) for p in model.parameters()}
    glimpse = GlimpseClassifier((1, 28, 28))
    assert [group["lr"] for group in glimpse.param_groups(0.01)] == [0.01]


def test_spatial_transformer_averages_its_supersamples_into_each_point():
    torch.manual_seed(0)
    x = _images(2, side=60)
    seen = []
    plain, fine = (SpatialTransformer((1, 60, 60), supersample=s) for s in (1, 4))
    fine.locator.load_state_dict(plain.locator.state_dict())
    for model in (plain, fine):
        model.classify.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
        model(x)
    assert seen[0].shape == seen[1].shape == (2, 1, 12, 3)  # G k = 4 x 3 rows of k = 3 points
    # at the identity the 12 x 12 supersamples fall on pixels 2, 7, ..., 57 of each axis, and
    # point (i, j) is the mean of the 4 x 4 of them in cell (i, j); the plain read takes the
    # cell's centre (pixel 20 i + 9.5: the mean of 2 x 2 pixels)
    cells = x[:, :, 2::5, 2::5].reshape(2, 1, 3, 4, 3, 4).mean((3, 5))  # (2, 1, 3, 3)
    centres = x[:, :, 9:, 9:].unfold(2, 2, 20).unfold(3, 2, 20).mean((4, 5))  # (2, 1, 3, 3)
    torch.testing.assert_close(seen[1][:, :, :3], cells)
    torch.testing.assert_close(seen[1][:, :, 3:6], cells)  # every glimpse the same at the start
    torch.testing.assert_close(seen[0][:, :, :3], centres)


def test_the_box_spatial_transformer_reads_inside_its_box_and_never_off_the_image():
    torch.manual_seed(0)
    x = _images(2, side=60)
    model = SpatialTransformer((1, 60, 60), k=3, supersample=1, transform="box")
    side = torch.sigmoid(torch.tensor(2.0)) * 59  # the starting box: centred, 88 % of a side
    corner = (59 - side) / 2
    points = model._points(x, 3)  # (b G, 3, 3, 2): (x, y) in grid_sample's coordinates
    pixels = ((points + 1) * 60 - 1) / 2  # back to pixel positions (column, row)
    expected = corner + side * (torch.arange(3) + 0.5) / 3
    torch.testing.assert_close(pixels[0, 0, :, 0], expected)  # columns of the top row
    torch.testing.assert_close(pixels[0, :, 0, 1], expected)  # rows of the left column
    with torch.no_grad():  # any locator output, however large, keeps every read on the image
        model.locator[-1].bias.copy_(torch.tensor([50.0, -50.0, -50.0, 50.0]).repeat(4))
    pixels = ((model._points(x, 3) + 1) * 60 - 1) / 2
    assert pixels.min() >= 0 and pixels.max() <= 59
    with pytest.raises(ValueError, match="transform"):
        SpatialTransformer((1, 60, 60), transform="projective")


def test_a_view_too_small_for_the_locators_poolings_is_refused():
    for make in (lambda: GlimpseClassifier((1, 28, 28), view=3),
                 lambda: BoxesClassifier((1, 28, 28), view=3)):
        with pytest.raises(ValueError, match="view must be an int >= 4"):
            make()


def test_a_coarse_view_is_what_the_locator_reads():
    torch.manual_seed(0)
    x = _images(2, side=60)
    for model in (GlimpseClassifier((1, 60, 60), view=7).glimpse, BoxesClassifier((1, 60, 60),
                                                                               view=7)):
        pool = model.locator[0]
        assert isinstance(pool, torch.nn.AdaptiveAvgPool2d) and pool.output_size == 7
        assert model.locator(x).shape == (2, 16)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: GlimpseClassifier((1, 60, 60))(torch.rand(2, 1, 28, 28)), ValueError,
         r"shape \(b, \*\(1, 60, 60\)\)"),
        (lambda: MLPClassifier((1, 28, 28))(torch.rand(2, 28, 28)), ValueError, "shape"),
        (lambda: SpatialTransformer((1, 28, 28))(torch.rand(2, 1, 28, 28).long()), TypeError,
         "floating-point"),
        (lambda: GlimpseLayer((28, 28)), ValueError, r"\(C, H, W\)"),
        (lambda: GlimpseLayer((1, 28, 28), glimpses=0), ValueError, "glimpses"),
        (lambda: GlimpseLayer((1, 28, 28), region=29), ValueError, "region"),
        (lambda: ConvClassifier((1, 0, 28)), ValueError, r"\(C, H, W\)"),
        (lambda: GlimpseLayer((1, 28, 28), g=2.5), TypeError, "g must"),
        (lambda: GlimpseLayer((1, 28, 28), region=2.5), TypeError, "region"),
        (lambda: GlimpseLayer((1, 28, 28), k=True), TypeError, "k must"),
        (lambda: GlimpseLayer((1, 28, 28), glimpses=2.0), TypeError, "glimpses"),
        (lambda: GlimpseLayer((1, 28, 28), sigma_scale=float("nan")), ValueError, "sigma_scale"),
        (lambda: GlimpseLayer((1, 60, 60), view=2.5), TypeError, "view"),
        (lambda: GlimpseClassifier((1, 28, 28), min_sigma=float("inf")), ValueError, "min_sigma"),
        (lambda: GlimpseClassifier((1, 28, 28), classes=2.5), TypeError, "classes"),
        (lambda: SpatialTransformer((1, 28, 28), k=3.0), TypeError, "k must"),
        (lambda: SpatialTransformer((1, 28, 28), glimpses=True), TypeError, "glimpses"),
        (lambda: ConvClassifier((1, 28, 28), hidden=64.0), TypeError, "hidden"),
        (lambda: MLPClassifier((1, 28, 28), classes=0), ValueError, "classes"),
        (lambda: grid(2.5), TypeError, "k must"),
        (lambda: glimpse_template(4, 1.0, 3), TypeError, "channels"),
    ],
)
def test_bad_input_is_refused_clearly(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("training", [True, False])
def test_nan_images_are_refused_like_the_other_layers(training):
    """A NaN image made NaN boxes: training went on silently, evaluation failed with an index
    of -2^63 out of bounds."""
    x = _images()
    x[1, 0, 3, 4] = float("nan")
    for model in (GlimpseLayer((1, 28, 28)), GlimpseClassifier((1, 28, 28))):
        with pytest.raises(ValueError, match="non-finite numbers in the locator's output"):
            model.train(training)(x)
    layer = GlimpseLayer((1, 28, 28))
    with pytest.raises(ValueError, match="non-finite numbers in the locator's output"):
        layer.look(x)
    with torch.no_grad():
        layer.raw_points[0, 0, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite numbers in raw_points"):
        layer.train(training)(_images())
    assert GlimpseLayer((1, 28, 28), check_finite=False).train()(x).isnan().any()  # on request


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("side", [28, 60])
def test_empty_batch_gives_empty_logits(training, side):
    torch.manual_seed(0)
    x = torch.zeros(0, 1, side, side, requires_grad=True)
    glimpses = GlimpseLayer((1, side, side)).train(training)(x)
    assert glimpses.shape == (0, 4, 1, 3, 3)
    for cls in MODELS:
        logits = cls((1, side, side)).train(training)(x)
        assert logits.shape == (0, 10), cls.__name__
        logits.sum().backward()
    assert x.grad.shape == x.shape


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_follows_the_input():
    torch.manual_seed(0)
    model = GlimpseClassifier((1, 60, 60)).cuda()
    x = _images(side=60).cuda()
    generator = torch.Generator("cuda").manual_seed(0)
    assert model(x, generator).device.type == "cuda"
    assert model.eval()(x).device.type == "cuda"


def test_the_boxes_control_classifies_the_glimpse_models_boxes_and_no_pixel():
    torch.manual_seed(0)
    glimpse, control = GlimpseClassifier((1, 60, 60)), BoxesClassifier((1, 60, 60))
    control.locator.load_state_dict(glimpse.glimpse.locator.state_dict())
    x = _images(3, side=60)
    boxes = glimpse.glimpse.boxes(x)  # (3, 4, 2, 2) in pixels
    torch.testing.assert_close(place_boxes(control.locator(x), (60, 60)), boxes)
    seen = []
    control.classify.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    control(x)
    torch.testing.assert_close(seen[0], boxes / 59)  # 16 numbers in [0, 1] per image
    assert control.classify[1].in_features == 16
