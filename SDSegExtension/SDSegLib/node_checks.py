"""Refuse a node of the wrong kind given to the scripting API, before anything runs (no ``slicer`` import).

The panel's node selectors (``Resources/UI/SDSeg.ui``) only offer nodes of the right class; a
script calling :meth:`SDSegModuleLogic.process` or :meth:`~SDSegModuleLogic.startJob` can pass
anything, e.g. the segmentation node where the volume belongs, or the volume as the output
segmentation (swapped arguments). Such a call used to fail with an ``AttributeError`` deep inside
(``'vtkMRMLSegmentationNode' object has no attribute 'GetImageData'``), after an engine may already
have started; :func:`check_node_kinds` says instead which argument is wrong and what it takes.
"""

from __future__ import annotations

from typing import Any, Optional, Tuple

from SDSegLogic.errors import InputError

__all__ = ["INPUT_CLASSES", "MAP_CLASSES", "ROI_CLASSES", "check_node_kinds"]

INPUT_CLASSES = ("vtkMRMLScalarVolumeNode", "vtkMRMLVectorVolumeNode")
"""The input volume's classes: exactly these, as the panel's input selector lists (no labelmap, no tensor volume)."""
MAP_CLASSES = ("vtkMRMLScalarVolumeNode",)
"""The probability and uncertainty volumes' class, exactly, as the panel's map selectors list."""
ROI_CLASSES = ("vtkMRMLMarkupsROINode",)
"""The ROI's class (and its subclasses), as the panel's ROI selector lists."""
SEGMENTATION_CLASS = "vtkMRMLSegmentationNode"


def _describe(node: Any) -> str:
    """``'name' (class)`` of a MRML node, or the Python value of anything else."""
    if hasattr(node, "GetClassName") and hasattr(node, "GetName"):
        return f"'{node.GetName()}' ({node.GetClassName()})"
    return f"{node!r} (a Python {type(node).__name__}, not a MRML node)"


def _refuse(argument: str, node: Any, wanted: str) -> InputError:
    return InputError(f"{argument} is {_describe(node)}; it takes {wanted}. Pass the node itself, e.g. "
                      "slicer.util.getNode('name'), in the argument it belongs to.")


def _exact(node: Any, classes: Tuple[str, ...]) -> bool:
    return hasattr(node, "GetClassName") and str(node.GetClassName()) in classes


def _is_a(node: Any, classes: Tuple[str, ...]) -> bool:
    return hasattr(node, "IsA") and any(node.IsA(name) for name in classes)


def check_node_kinds(inputVolume: Any, outputSegmentation: Optional[Any] = None, probabilityVolume: Optional[Any] = None,
                     uncertaintyVolume: Optional[Any] = None, roiNode: Optional[Any] = None) -> None:
    """Refuse an argument that is not a node of the class it takes (None is fine for all but ``inputVolume``).

    Args:
        inputVolume: a scalar volume (CT) or a vector volume (colour photo); :data:`INPUT_CLASSES`.
        outputSegmentation: a segmentation node, or None (a new one is made).
        probabilityVolume, uncertaintyVolume: scalar volume nodes, or None; :data:`MAP_CLASSES`.
        roiNode: a markups ROI node, or None; :data:`ROI_CLASSES`.

    Raises:
        InputError: ``inputVolume`` is None (no volume chosen) or any argument is of another kind;
            the message names the argument, the node (name and class) and what it takes.
    """
    if inputVolume is None:
        raise InputError("no input volume given; pass a CT volume or a colour photo (a scalar or vector volume node).")
    if not _exact(inputVolume, INPUT_CLASSES):
        raise _refuse("the input volume", inputVolume, "a CT volume or a colour photo (vtkMRMLScalarVolumeNode or "
                                                       "vtkMRMLVectorVolumeNode; not a labelmap or a segmentation)")
    if outputSegmentation is not None and not _is_a(outputSegmentation, (SEGMENTATION_CLASS,)):
        raise _refuse("outputSegmentation", outputSegmentation,
                      f"a segmentation node ({SEGMENTATION_CLASS}) or None for a new one")
    for argument, node in (("probabilityVolume", probabilityVolume), ("uncertaintyVolume", uncertaintyVolume)):
        if node is not None and not _exact(node, MAP_CLASSES):
            raise _refuse(argument, node, "a scalar volume node (vtkMRMLScalarVolumeNode) or None")
    if roiNode is not None and not _is_a(roiNode, ROI_CLASSES):
        raise _refuse("roiNode", roiNode, "a markups ROI node (vtkMRMLMarkupsROINode) or None")
