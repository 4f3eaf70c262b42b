"""SDSeg engine: Stable Diffusion Segmentation (Lin et al., MICCAI 2024) without 3D Slicer.

The public API, imported lazily so that ``import SDSegLogic`` is instant::

    from SDSegLogic import SDSegPipeline
    pipe = SDSegPipeline.from_pretrained("Resources/Models/sdseg-demo-ct-lite", device="auto")
    out = pipe(slices)              # slices: (B, 3, H, W) in [-1, 1]
    out.probabilities, out.labels   # float32 (B, H, W) foreground map in [0, 1] (binary model) or (B, K, H, W)
                                    # class probabilities (multi-class, e.g. the demo); int64 (B, H, W) labels:
                                    # 0/1, or the class index 0..K-1

Modules: ``config`` (architecture and presets), ``model_card`` (data contract), ``models``
(networks), ``schedulers`` (single step and DDIM), ``pipeline`` (inference), ``model_folder``
(save/load), ``importers`` (official checkpoints), ``geometry`` (image grids in LPS), ``io``
(reading scans, writing ``.seg.nrrd``/labelmaps/previews), ``segment`` (a whole volume through
the pipeline), ``cli`` (the ``sdseg`` command), ``server`` (the engine process), ``errors``.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "SDSegPipeline": "pipeline",
    "SDSegOutput": "pipeline",
    "SDSegModel": "models.sdseg_model",
    "SDSegConfig": "config",
    "preset": "config",
    "ModelCard": "model_card",
    "SegmentClass": "model_card",
    "IntensityMapping": "model_card",
    "save_model_folder": "model_folder",
    "load_model_folder": "model_folder",
    "verify_model_folder": "model_folder",
    "DDIMSampler": "schedulers",
    "SingleStepSampler": "schedulers",
    "NoiseSchedule": "schedulers",
    "ImageGeometry": "geometry",
    "reorient": "geometry",
    "lps_to_ras": "geometry",
    "ras_to_lps": "geometry",
    "read_image": "io",
    "ImageData": "io",
    "image_data_from_array": "io",
    "write_segmentation": "io",
    "write_float_volume": "io",
    "write_preview": "io",
    "segment_array": "segment",
    "plan_segmentation": "segment",
    "SegmentationResult": "segment",
    "SlicePredictor": "segment",
    "SDSegError": "errors",
    "InputError": "errors",
    "GeometryError": "errors",
    "ConfigError": "errors",
    "ModelCardError": "errors",
    "CheckpointError": "errors",
    "WeightsMismatchError": "errors",
    "CancelledError": "errors",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'SDSegLogic' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list:
    return __all__
