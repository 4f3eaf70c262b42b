"""The engine's input resize for checkpoints imported from the official code, and the default's.

The engine resizes the network input as the project's training package does by default (bilinear
or bicubic, ``align_corners=False``, never antialiased; ``SDSegLogic.preprocessing``), so models
trained here see their training inputs. The official code (lin-tianyu/Stable-Diffusion-Seg)
resized differently for three datasets, which a card names with its own ``image_resize``
(``SDSegLogic.input_resize``):

* CVC-ClinicDB / REFUGE2 (``PIL.Image.BILINEAR``, ``ldm/data/cvc.py`` l. 46, ``ldm/data/refuge2.py``
  l. 43) and Kvasir-SEG (``PIL.Image.BICUBIC``, ``ldm/data/kseg.py`` l. 49): Pillow antialiases when
  it shrinks (its filter support grows with the scale factor): ``"pillow-bilinear"`` and
  ``"pillow-bicubic"``.
* STS-3D: ``scipy.ndimage.zoom(order=1)`` (``ldm/data/sts3d.py`` l. 74), which maps the corner pixel
  centres onto each other (``align_corners=True`` style): ``"corners-bilinear"``.
"""

from __future__ import annotations

import numpy as np
import pytest

from SDSegLogic.model_card import IntensityMapping
from SDSegLogic.preprocessing import network_input

RGB = IntensityMapping("rgb")
STS3D_WINDOW = IntensityMapping("window", -100.0, 1100.0)


def _photo(height: int = 288, width: int = 384) -> np.ndarray:
    """A CVC-sized colour photo with a sharp polyp-coloured patch, uint8 (H, W, 3)."""
    rng = np.random.default_rng(5)
    photo = rng.integers(0, 256, (height, width, 3)).astype(np.uint8)
    photo[100:180, 150:260] = (230, 40, 60)
    return photo


def _pillow_input(photo: np.ndarray, filter_name: str) -> np.ndarray:
    """The official photo input: Pillow resize of the uint8 image to 256 px, then ``/ 255 * 2 - 1``."""
    from PIL import Image

    resample = {"bilinear": Image.BILINEAR, "bicubic": Image.BICUBIC}[filter_name]
    resized = Image.fromarray(photo).resize((256, 256), resample=resample)
    return np.asarray(resized).astype(np.float32) / 255.0 * 2 - 1


@pytest.mark.parametrize("filter_name", ["bilinear", "bicubic"])
def test_photo_input_equals_the_official_pillow_resize(filter_name):
    pytest.importorskip("PIL")
    photo = _photo()
    official = _pillow_input(photo, filter_name)
    engine = network_input(photo[None], "rgb", RGB, 256, resize=f"pillow-{filter_name}")[0].transpose(1, 2, 0)
    assert np.abs(engine - official).max() <= 1.5 / 255 * 2  # Pillow rounds both passes to uint8; that is all


@pytest.mark.parametrize("filter_name", ["bilinear", "bicubic"])
def test_default_photo_input_stays_unantialiased_as_in_this_projects_training(filter_name):
    """The default modes stay MONAI's resize (``align_corners=False``, no antialiasing), not Pillow's."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("PIL")
    photo = _photo()
    engine = network_input(photo[None], "rgb", RGB, 256, resize=filter_name)
    mapped = torch.from_numpy(photo.astype(np.float32).transpose(2, 0, 1)[None] / 255.0 * 2 - 1)
    plain = torch.nn.functional.interpolate(mapped, size=(256, 256), mode=filter_name, align_corners=False,
                                            antialias=False).clamp(-1, 1).numpy()
    assert np.abs(engine - plain).max() < 1e-5
    # ... which is far from the antialiased official resize: the modes really are different resizes
    assert np.abs(engine[0].transpose(1, 2, 0) - _pillow_input(photo, filter_name)).max() > 20 / 255 * 2


def test_sts3d_input_equals_the_official_zoom_resize():
    zoom = pytest.importorskip("scipy.ndimage").zoom
    rng = np.random.default_rng(6)
    hu = rng.normal(200.0, 300.0, (1, 400, 400)).astype(np.float32)
    hu[:, 100:180, 150:260] = 1100.0
    unit = (np.clip(hu[0], -100.0, 1100.0) + 100.0) / 1200.0  # the official window to [0, 1]
    official = zoom(unit, (256 / 400, 256 / 400), order=1) * 2 - 1
    engine = network_input(hu, "repeat", STS3D_WINDOW, 256, resize="corners-bilinear")
    assert engine.shape == (1, 3, 256, 256)
    assert np.abs(engine[0, 0] - official).max() < 1e-4
    default = network_input(hu, "repeat", STS3D_WINDOW, 256)[0, 0]
    assert np.abs(default - official).max() > 0.1  # the default (centres aligned) is another resize
