"""The SDSeg module's parameter node (saved with the scene; needs Slicer).

Widgets in ``Resources/UI/SDSeg.ui`` carry a ``SlicerParameterName`` dynamic property naming the
field they edit; ``parameterNode.connectGui(ui)`` then keeps both in sync. The model and device
combo boxes are filled at run time (from the registry and the devices found), so the widget
syncs those two by hand, and the GPU-kernels combo box (its items carry the policy as data).
"""

from __future__ import annotations

from typing import Annotated, Union

from slicer import (
    vtkMRMLMarkupsROINode,
    vtkMRMLScalarVolumeNode,
    vtkMRMLSegmentationNode,
    vtkMRMLVectorVolumeNode,
)
from slicer.parameterNodeWrapper import Choice, WithinRange, parameterNodeWrapper

from .engine_runner import GPU_KERNEL_CHOICES  # the engine's --compile policies

__all__ = ["SDSegParameterNode", "DEVICE_CHOICES", "GPU_KERNEL_CHOICES"]

DEVICE_CHOICES = ("auto", "cuda", "cpu")


@parameterNodeWrapper
class SDSegParameterNode:
    """Parameters of one SDSeg run.

    inputVolume: CT/CBCT scalar volume or RGB photo (vector volume); never modified.
    outputSegmentation: segmentation to write; None creates a new one on Segment.
    probabilityVolume, uncertaintyVolume: optional scalar outputs (foreground probability, variance).
    roiNode: optional markups ROI; only slices it covers (along the same axis) are segmented.
    modelId: registry id (or folder) of the model.
    device: "auto" (CUDA when present), "cuda" or "cpu".
    steps: sampling steps (1 = the paper's single-step inference; more = DDIM).
    samples: stochastic samples; more than 1 gives an uncertainty (variance) map (the uncertainty
        selector is disabled with 1 sample).
    seed: random seed (results are reproducible for a given seed and device type).
    batchSize: slices per network batch (lower it if the GPU runs out of memory).
    gpuKernels: compiled kernels of the local engine: "auto" (use those cached for this model and
        GPU), "aot" (build missing ones first: minutes, once per model, precision and GPU), "off".
    firstSlice, lastSlice: slices to segment, counted along the axis the model slices the volume
        across (k for an axial CT and an axial model, j for a CT stored as coronal slices; the
        panel's label names it); lastSlice -1 means the last slice. An ROI overrides them.
    strict: refuse the input (the engine's input error, shown like any other) instead of warning
        when its modality or colour/grey channels do not match what the model was trained on,
        e.g. a colour photo given to a CT model (the engine's ``strict`` option, ``sdseg segment --strict``).
    allTimePoints: when the input is the volume of a sequence (a 4D or cine series browsed in the
        Sequences module), segment every time point into a segmentation sequence browsed with it,
        instead of the selected time point only (the panel shows the checkbox only for such an input).
    fillNonFinite: replace NaN/infinite voxels with the window minimum (with a warning) instead of
        refusing the volume (the engine's ``nan_policy="fill"``, ``sdseg segment --nan-policy fill``).
    """

    inputVolume: Union[vtkMRMLScalarVolumeNode, vtkMRMLVectorVolumeNode]
    outputSegmentation: vtkMRMLSegmentationNode
    probabilityVolume: vtkMRMLScalarVolumeNode
    uncertaintyVolume: vtkMRMLScalarVolumeNode
    roiNode: vtkMRMLMarkupsROINode
    modelId: str = "sdseg-demo-ct-lite"
    device: Annotated[str, Choice(list(DEVICE_CHOICES))] = "auto"
    steps: Annotated[int, WithinRange(1, 100)] = 1
    samples: Annotated[int, WithinRange(1, 32)] = 1
    seed: Annotated[int, WithinRange(0, 2147483647)] = 0
    batchSize: Annotated[int, WithinRange(1, 256)] = 8
    gpuKernels: Annotated[str, Choice(list(GPU_KERNEL_CHOICES))] = "auto"
    firstSlice: Annotated[int, WithinRange(0, 99999)] = 0
    lastSlice: Annotated[int, WithinRange(-1, 99999)] = -1
    strict: bool = False
    fillNonFinite: bool = False
    allTimePoints: bool = False
