"""Checks that a chosen output can take a run's result, made before a run and again before it is written.

:func:`check_output_volumes` (the panel's map selectors list every scalar volume, the input too),
:func:`check_same_grid` (a chosen segmentation made for a volume with another voxel grid) and
:func:`check_labelmap_source` (one stored as surfaces or contours, into which Slicer cannot
import a labelmap). Split from :mod:`SDSegLib.segmentation_writer`, which re-exports them; they
need ``slicer`` only inside functions.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

import numpy as np

from SDSegLogic.errors import InputError

from .volume_adapter import GRID_TOLERANCE_MM, matrix_to_numpy

__all__ = ["check_output_volumes", "check_same_grid", "check_same_transform", "check_labelmap_source"]


def check_output_volumes(input_volume: Any, probability_volume: Any = None, uncertainty_volume: Any = None,
                         samples: Optional[int] = None, segmentation: Any = None) -> None:
    """Refuse outputs the result could not go to, before a run starts (and again before it is written).

    The panel's map selectors list every scalar volume, the input CT included; writing a map into
    it would replace the voxels that were segmented (the input is never modified). A chosen output
    segmentation made for another grid, or stored as surfaces, would only be refused when the
    result is written, after the whole run: it is checked here too.

    Args:
        input_volume, probability_volume, uncertainty_volume: the nodes (None where not chosen).
        samples: the run's number of samples, when known: an uncertainty volume with fewer than 2
            is refused (one sample has no variance: the volume would silently stay unwritten).
        segmentation: the chosen output segmentation node, or None (a new one will be made).

    Raises:
        InputError: the input volume is the probability or uncertainty volume, both are one node,
            an uncertainty volume is chosen for a single-sample run, or ``segmentation`` cannot
            take the result (:func:`check_same_grid`, :func:`check_same_transform`, :func:`check_labelmap_source`).
    """
    if segmentation is not None and input_volume is not None:
        check_same_grid(segmentation, input_volume)
        check_same_transform(segmentation, input_volume)
        check_labelmap_source(segmentation)
    if uncertainty_volume is not None and samples is not None and int(samples) < 2:
        raise InputError(f"the uncertainty volume '{uncertainty_volume.GetName()}' needs samples of 2 or more (the variance "
                         f"over the samples); samples is {samples}. Raise samples, or leave the uncertainty volume out.")
    ids = [node.GetID() if node is not None else None for node in (probability_volume, uncertainty_volume)]
    if input_volume is not None and input_volume.GetID() in ids:
        raise InputError(f"the input volume '{input_volume.GetName()}' is chosen as the probability or uncertainty map's "
                         "volume, which would overwrite it; choose another volume or create a new one.")
    if ids[0] is not None and ids[0] == ids[1]:
        raise InputError("the probability map and the uncertainty map are chosen to go into the same volume; choose two.")


def _volume_grid(volume: Any) -> Tuple[np.ndarray, Tuple[int, ...]]:
    import vtk

    matrix = vtk.vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    dims = volume.GetImageData().GetDimensions()
    extent = (0, dims[0] - 1, 0, dims[1] - 1, 0, dims[2] - 1)
    return matrix_to_numpy(matrix), extent


def _parse_geometry(text: str) -> Optional[Tuple[np.ndarray, Tuple[int, ...]]]:
    """Slicer's serialised reference geometry (16 matrix numbers, 6 extents, ``;``-separated), or None."""
    try:
        numbers = [float(part) for part in str(text or "").split(";") if part.strip()]
    except ValueError:
        return None
    if len(numbers) != 22:
        return None
    return np.array(numbers[:16]).reshape(4, 4), tuple(int(round(v)) for v in numbers[16:])


def _same_grid(a: Tuple[np.ndarray, Tuple[int, ...]], b: Tuple[np.ndarray, Tuple[int, ...]]) -> bool:
    return a[1] == b[1] and bool(np.allclose(a[0], b[0], rtol=0.0, atol=GRID_TOLERANCE_MM))


def check_same_grid(segmentation_node: Any, input_volume: Any) -> None:
    """Refuse to write into a segmentation made for a volume with another grid.

    The segmentation's reference geometry (its reference volume, or the geometry saved with it)
    must equal the input's voxel grid; otherwise writing would replace its segments and move it
    onto the new volume while it keeps its old name.

    Raises:
        InputError: the grids differ (the message names both and says what to choose).
    """
    import slicer

    wanted = _volume_grid(input_volume)
    reference = segmentation_node.GetNodeReference(slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole())
    if reference is not None and reference.GetImageData() is not None:
        other, owner = _volume_grid(reference), f"volume '{reference.GetName()}'"
    else:
        parameter = slicer.vtkSegmentationConverter.GetReferenceImageGeometryParameterName()
        other, owner = _parse_geometry(segmentation_node.GetSegmentation().GetConversionParameter(parameter)), "another volume"
    if other is not None and not _same_grid(wanted, other):
        raise InputError(
            f"the output segmentation '{segmentation_node.GetName()}' belongs to {owner} with a different voxel grid "
            f"than '{input_volume.GetName()}'; writing into it would replace its segments and move it. Choose "
            "'Create new segmentation' as output, or a segmentation made for this volume.")


def _transform_name(node_id: Optional[str]) -> str:
    """``transform 'Registration'`` (its name, else its id), or ``no transform``."""
    import slicer

    if not node_id:
        return "no transform"
    node = slicer.mrmlScene.GetNodeByID(node_id)
    return f"transform '{node.GetName() if node is not None else node_id}'"


def check_same_transform(segmentation_node: Any, input_volume: Any) -> None:
    """Refuse to move a segmentation that holds segments under another parent transform than the input's.

    The result goes under the input's parent transform, so that it lines up with the input; a
    chosen segmentation under another transform (or none) would be moved with every segment it
    holds, a person's own among them. An empty one (e.g. just made with the output selector) is
    simply placed under the input's transform.

    Raises:
        InputError: the transforms differ and the node holds segments (it is left unchanged).
    """
    wanted, current = input_volume.GetTransformNodeID() or None, segmentation_node.GetTransformNodeID() or None
    if wanted == current or segmentation_node.GetSegmentation().GetNumberOfSegments() == 0:
        return
    raise InputError(
        f"the output segmentation '{segmentation_node.GetName()}' is under {_transform_name(current)} and the input "
        f"'{input_volume.GetName()}' under {_transform_name(wanted)}; writing the result would move the segmentation, with "
        "all its segments, under the input's transform. It was left unchanged. Choose 'Create new segmentation' as "
        "output, or put both under the same transform first (Transforms or Data module).")


def check_labelmap_source(segmentation_node: Any) -> None:
    """Refuse to write into a segmentation whose segments are stored as surfaces or contours.

    Slicer imports a labelmap only into a segmentation whose source representation is a binary
    labelmap (``ImportLabelmapToSegmentationNode`` fails otherwise). One loaded from a model file
    (closed surface) or an RT structure set (planar contours) would fail half-way, after its first
    SDSeg segment was already removed; it is refused before anything changes.

    Raises:
        InputError: the source representation is not a binary labelmap (the message names it and the remedy).
    """
    import slicer

    segmentation = segmentation_node.GetSegmentation()
    getter = getattr(segmentation, "GetSourceRepresentationName", None) or segmentation.GetMasterRepresentationName  # Slicer < 5.2
    source, labelmap = str(getter()), slicer.vtkSegmentationConverter.GetSegmentationBinaryLabelmapRepresentationName()
    if source != labelmap:
        raise InputError(
            f"the output segmentation '{segmentation_node.GetName()}' stores its segments as '{source}', into which Slicer "
            f"cannot import the result; it was left unchanged. Choose 'Create new segmentation' as output, or make "
            f"'{labelmap}' its source representation first (Segmentations module, Representations).")
