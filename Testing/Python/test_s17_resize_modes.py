"""The card's ``image_resize`` modes against the real libraries they reproduce (Pillow, SciPy).

``"pillow-bilinear"``/``"pillow-bicubic"`` must equal ``PIL.Image.resize`` and ``"corners-bilinear"``
must equal ``scipy.ndimage.zoom(order=1)``, shrinking and enlarging, colour and grey; a card
names them, and an unknown one is refused by name.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.errors import InputError, ModelCardError
from SDSegLogic.input_resize import INPUT_RESIZES, input_resize_tensor
from SDSegLogic.model_card import IMAGE_RESIZE_MODES, IntensityMapping, ModelCard, SegmentClass
from SDSegLogic.preprocessing import network_input, resize_slices

Image = pytest.importorskip("PIL.Image")
zoom = pytest.importorskip("scipy.ndimage").zoom
torch = pytest.importorskip("torch")

RGB = IntensityMapping("rgb")
GREY_255 = IntensityMapping("window", 0.0, 255.0)
FILTERS = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}
#: (rows, columns) of inputs resized to 256 x 256: shrinking both, enlarging both, one of each, one axis kept
SHAPES = [(288, 384), (100, 140), (300, 200), (90, 600), (256, 300), (40, 256)]


def _noise(shape, low=0, high=256, seed=3) -> np.ndarray:
    return np.random.default_rng(seed).integers(low, high, shape).astype(np.uint8)


def _to_unit(values: np.ndarray) -> np.ndarray:
    return values.astype(np.float32) / 255.0 * 2 - 1


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("filter_name", ["bilinear", "bicubic"])
def test_pillow_modes_equal_pillow_on_float_grey_images_of_any_shape(filter_name, shape):
    """Pillow's float ("F") resize, no uint8 rounding: the filters must agree to float precision.

    Values stay within [40, 215] so that no bicubic overshoot reaches the clip at [0, 255].
    """
    grey = _noise(shape, 40, 216).astype(np.float32)
    official = np.asarray(Image.fromarray(grey, mode="F").resize((256, 256), resample=FILTERS[filter_name]))
    engine = network_input(grey[None], "repeat", GREY_255, 256, resize=f"pillow-{filter_name}")
    assert engine.shape == (1, 3, 256, 256)
    assert np.abs(engine[0, 0] - _to_unit(official)).max() < 2e-5


@pytest.mark.parametrize("shape", [(288, 384), (576, 720), (120, 160), (200, 200)])
@pytest.mark.parametrize("filter_name", ["bilinear", "bicubic"])
def test_pillow_modes_equal_pillow_on_8_bit_colour_photos(filter_name, shape):
    """The official path: uint8 RGB through Pillow (intermediate kept as 8 bits), then ``/ 255 * 2 - 1``.

    Landscape and square photos (CVC 288 x 384, Kvasir 576 x 720, an enlarged one): Pillow 9.5.0,
    the official one, always resizes the width first; some later builds choose the order by shape,
    which agrees for these.
    """
    photo = _noise(shape + (3,))
    official = _to_unit(np.asarray(Image.fromarray(photo).resize((256, 256), resample=FILTERS[filter_name])))
    engine = network_input(photo[None], "rgb", RGB, 256, resize=f"pillow-{filter_name}")[0].transpose(1, 2, 0)
    assert np.abs(engine - official).max() <= 1.5 / 255 * 2  # Pillow rounds each pass to uint8


@pytest.mark.parametrize("filter_name", ["bilinear", "bicubic"])
def test_pillow_modes_equal_pillow_on_8_bit_grey_photos(filter_name):
    grey = _noise((288, 384))
    official = _to_unit(np.asarray(Image.fromarray(grey).resize((256, 256), resample=FILTERS[filter_name])))
    engine = network_input(grey[None], "repeat", RGB, 256, resize=f"pillow-{filter_name}")
    assert np.abs(engine[0, 0] - official).max() <= 1.5 / 255 * 2
    assert np.array_equal(engine[0, 0], engine[0, 2])


def test_pillow_bicubic_enlargement_is_pillows_kernel_not_torchs_default():
    """Enlarging, Pillow's bicubic uses a = -0.5; plain ``F.interpolate`` bicubic uses a = -0.75."""
    grey = _noise((64, 96), 40, 216).astype(np.float32)
    official = _to_unit(np.asarray(Image.fromarray(grey, mode="F").resize((256, 256), resample=Image.BICUBIC)))
    pillow = network_input(grey[None], "repeat", GREY_255, 256, resize="pillow-bicubic")[0, 0]
    plain = network_input(grey[None], "repeat", GREY_255, 256, resize="bicubic")[0, 0]
    assert np.abs(pillow - official).max() < 2e-5
    assert np.abs(plain - official).max() > 0.02


@pytest.mark.parametrize("filter_name", ["bilinear", "bicubic"])
def test_pillow_mode_to_one_column_equals_pillow(filter_name):
    """The one-column antialiased resize (a PyTorch case worked around) also matches Pillow."""
    grey = _noise((64, 64), 40, 216).astype(np.float32)
    official = _to_unit(np.asarray(Image.fromarray(grey, mode="F").resize((1, 40), resample=FILTERS[filter_name])))
    x = torch.from_numpy(_to_unit(grey)[None, None])  # mapped to [-1, 1], as the engine's input is
    engine = input_resize_tensor(x, (40, 1), f"pillow-{filter_name}")[0, 0].numpy()
    assert engine.shape == (40, 1)
    assert np.abs(engine - official).max() < 2e-5
    assert np.ptp(engine) > 0.01  # not one constant value


@pytest.mark.parametrize("shape", [(400, 400), (300, 200), (100, 140), (512, 96)])
def test_corners_mode_equals_scipy_zoom_order_1_grey(shape):
    grey = np.random.default_rng(7).random(shape).astype(np.float32)  # already in [0, 1], as STS-3D's slices
    official = zoom(grey, (256 / shape[0], 256 / shape[1]), order=1) * 2 - 1
    engine = network_input(grey[None], "repeat", IntensityMapping("window", 0.0, 1.0), 256,
                           resize="corners-bilinear")[0, 0]
    assert official.shape == engine.shape == (256, 256)
    assert np.abs(engine - official).max() < 1e-4


def test_corners_mode_equals_scipy_zoom_order_1_colour():
    photo = _noise((150, 330, 3))
    official = zoom(_to_unit(photo).astype(np.float64), (256 / 150, 256 / 330, 1), order=1)
    engine = network_input(photo[None], "rgb", RGB, 256, resize="corners-bilinear")[0].transpose(1, 2, 0)
    assert np.abs(engine - official).max() < 1e-4


def test_every_card_mode_is_implemented_and_round_trips_through_the_card_json(tmp_path):
    assert set(INPUT_RESIZES) == set(IMAGE_RESIZE_MODES)
    for mode in IMAGE_RESIZE_MODES:
        card = ModelCard("resize-test", classes=(SegmentClass("polyp", 1),), image_resize=mode)
        card.to_json(tmp_path / "card.json")
        assert ModelCard.from_json(tmp_path / "card.json").image_resize == mode


def test_unknown_resize_is_refused_by_name():
    with pytest.raises(ModelCardError, match="pillow-lanczos"):
        ModelCard("resize-test", classes=(SegmentClass("polyp", 1),), image_resize="pillow-lanczos")
    with pytest.raises(InputError, match="pillow-lanczos.*corners-bilinear"):
        resize_slices(np.zeros((1, 1, 8, 8), np.float32), 4, "pillow-lanczos")


@pytest.mark.parametrize("mode", IMAGE_RESIZE_MODES)
def test_every_mode_keeps_the_size_as_is_and_stays_in_range(mode):
    x = np.random.default_rng(1).uniform(-1, 1, (2, 3, 32, 32)).astype(np.float32)
    assert np.array_equal(resize_slices(x, 32, mode), x)
    out = resize_slices(x, 20, mode)
    assert out.shape == (2, 3, 20, 20) and out.min() >= -1 and out.max() <= 1
