"""Reading images and writing segmentations: the engine's file boundary.

Public API::

    read_image(path, *, frame=None, series=None, max_bytes=None) -> ImageData
    image_data_from_array(array, geometry=None, *, is_rgb=None, modality="") -> ImageData
    write_segmentation(path, result, card, *, input_path=None) -> Path   # .seg.nrrd or labelmap by extension
    write_float_volume(path, array, geometry, *, input_path=None) -> Path
    write_preview(path, image_data, result, card, *, max_slices=3, input_path=None) -> Path
    validate_seg_header(header, source) -> list of segment dicts
    detect_format(path) -> str
    check_before_itk(path) -> None   # refuse a NIfTI that SimpleITK would crash on or zero-fill
    itk_safe_path(path) -> context manager yielding a path from which ITK reads exactly ``path``

Arrays are indexed (K, J, I) = (slice, row, column), colour (K, J, I, 3); geometry is an
:class:`SDSegLogic.geometry.ImageGeometry` in LPS. Writes are atomic and never touch the input.

Edge-case policy (rows of the reliability table; REJECT = ``InputError``/``GeometryError`` naming
file, value and remedy; WARN = ``warnings.warn`` + recorded in ``metadata["warnings"]`` /
``SegmentationResult.warnings`` / ``SDSeg_Warnings`` in the ``.seg.nrrd``; ADAPT = invertible change):

==  ================================  ==========================================================
1   oblique direction                 ADAPT: permute/flip to the closest axes, no resampling, exact
                                      direction kept; WARN above 1 degree (stronger above 20)
2   LPS vs RAS                        ADAPT: LPS inside; NRRD RAS/LAS and NIfTI RAS converted;
                                      other NRRD ``space`` (scanner-xyz, 3D-*) REJECT; a NRRD without
                                      ``space directions`` placed as ITK places it (``space origin``
                                      or ``axis mins``); NIfTI in metres/microns read in mm
3   flipped / negative axes           ADAPT as row 1 (all 48 signed permutations tested)
4   sagittal/coronal acquisition      ADAPT to the card's orientation; WARN that the plane differs
5   anisotropic spacing               spacing copied exactly; WARN when in-plane ratio > 2
6   single slice (K = 1)              accepted; output stays 3-D; the thin axis is the slicing axis
7   2-D file (PNG, 2-D NRRD/MHA)      ADAPT: K = 1, spacing 1, direction extended by identity;
                                      a 2-D NIfTI is placed by its sform/qform (position, tilt);
                                      16-bit pictures (gray or colour) scaled to 0..255
8   4-D (time, echoes, pages)         REJECT naming the frame count, unless ``frame=`` is given
                                      (a single frame is the volume itself)
9   RGB / RGBA                        colour kept for 3-channel models; channel mismatch ADAPT
                                      (luminance / repeat) + WARN, or REJECT with
                                      ``strict_channels``; alpha dropped only if fully opaque
10  NaN / inf                         REJECT (count, first index); ``nan_policy="fill"`` + WARN
11  constant image                    never NaN (fixed window, guarded min-max) ; empty result WARN
12  empty file                        REJECT before any reader runs
13  truncated / corrupt               REJECT: every reader error becomes ``InputError``; raw NRRD
                                      data shorter than its header announces (``byte skip: -1``
                                      included), MetaImage ``LIST`` data that is short,
                                      missing or declared n-D for an n-D image, and compressed
                                      MetaImage data that does not inflate cleanly REJECT
14  wrong extension                   REJECT "extension says X, content is Y"; extension-less
                                      DICOM files accepted
15  non-ASCII / spaced paths          supported (``pathlib``; on Windows ITK IO goes through an
                                      ASCII temporary copy)
16  too large for memory              REJECT from the header before reading voxels, and in
                                      ``segment_array`` before allocating (remedy: slices, crop)
17  int16 + rescale slope/intercept   reader applies it, float32 HU; DICOM read in float per
                                      slice (mixed slopes); NIfTI as ITK and Slicer apply it (a
                                      slope of 0 counts as 1); WARN when CT looks un-rescaled
18  any integer / float dtype         cast to float32 once, at the boundary
19  non-orthonormal / sform != qform  REJECT (``GeometryError``); so is a sform whose axis lengths
                                      contradict pixdim, or a negative pixdim with a sform
20  Slicer parent transform           not the engine's job: handled by the Slicer adapter
21  DICOM: several series / gaps      largest series + WARN (``series=`` picks another); a tie
                                      for largest REJECT (lists the series); files in no series
                                      WARN, or REJECT when named directly; missing slices,
                                      gantry tilt or two slices on one plane REJECT
22  > 255 labels / nothing found      cards allow labels 1..255 -> uint8; an empty result still
                                      lists every declared segment (empty extent)
23  mismatched grids                  ``ImageGeometry.require_same`` raises ``GeometryError``
                                      (inputs are single files, so channels cannot disagree)
24  ``.nhdr``/``.mhd``/``.mha`` data   REJECT data files outside the header's folder (MetaImage
    elsewhere                         single, ``LIST`` and format-string forms included)
25  malformed ``.seg.nrrd``           ``validate_seg_header`` REJECTs; a ``.seg.nrrd`` given as
                                      the input image is REJECTed
==  ================================  ==========================================================
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ImageData",
    "read_image",
    "image_data_from_array",
    "write_segmentation",
    "write_float_volume",
    "write_preview",
    "validate_seg_header",
    "detect_format",
    "check_before_itk",
    "itk_safe_path",
]

_LAZY = {
    "ImageData": ".readers",
    "read_image": ".readers",
    "image_data_from_array": ".readers",
    "write_segmentation": ".writers",
    "write_float_volume": ".writers",
    "write_preview": ".preview",
    "validate_seg_header": ".seg_nrrd",
    "detect_format": ".sniff",
    "check_before_itk": "._nifti_header_guard",
    "itk_safe_path": "._sitk",
}


def __getattr__(name: str) -> Any:
    """Import submodules on first use so that ``import SDSegLogic.io`` stays cheap."""
    if name in _LAZY:
        import importlib

        module = importlib.import_module(_LAZY[name], __name__)
        return getattr(module, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
