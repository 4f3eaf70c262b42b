"""The input volume's modality for the engine's check (needs Slicer's subject hierarchy).

Split out of ``module_logic.py`` (``SDSegModuleLogic.inputModality`` is this function). ``slicer``
is imported inside the function, so the module works with whichever ``slicer`` is loaded.
"""

from __future__ import annotations

from typing import Any

__all__ = ["input_modality", "DICOM_MODALITY_ATTRIBUTE", "PHOTO_MODALITY"]

DICOM_MODALITY_ATTRIBUTE = "DICOM.Modality"
"""Subject-hierarchy attribute of a DICOM series item holding its Modality (0008,0060)."""
PHOTO_MODALITY = "photo"
"""The engine's modality name for a 2-D colour picture (see SDSegLogic.segment_plan.modality_note)."""


def input_modality(inputVolume: Any) -> str:
    """The volume's modality for the engine's check: its DICOM Modality, else ``"photo"`` for a colour picture.

    A volume loaded from DICOM has the series' Modality code (``CT``, ``MR``, ...) as the
    subject-hierarchy attribute ``DICOM.Modality`` of its item; a vector (RGB) volume without
    one is a photo (PNG/JPEG...). Anything else is unknown (``""``: the engine checks nothing).
    """
    import slicer

    shNode = slicer.vtkMRMLSubjectHierarchyNode.GetSubjectHierarchyNode(slicer.mrmlScene)
    item = shNode.GetItemByDataNode(inputVolume) if shNode is not None else 0
    modality = str(shNode.GetItemAttribute(item, DICOM_MODALITY_ATTRIBUTE) or "").strip() if item else ""
    if not modality and inputVolume.IsA("vtkMRMLVectorVolumeNode"):
        return PHOTO_MODALITY
    return modality
