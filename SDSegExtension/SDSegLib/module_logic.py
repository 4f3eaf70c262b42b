"""SDSegModuleLogic: everything the SDSeg module does, usable without its GUI (needs Slicer).

Batch use from the Python console or ``Slicer --no-main-window --python-script``::

    import SDSeg
    logic = SDSeg.SDSegModuleLogic()
    segmentation = logic.process(volumeNode, model="sdseg-demo-ct-lite", device="auto", steps=1, samples=1)

:meth:`SDSegModuleLogic.process` blocks until the result is in the scene; the widget uses the
non-blocking :meth:`startJob` + :meth:`applyResult` pair instead (the result's writing:
:mod:`SDSegLib.job_result`). ``process(..., allTimePoints=True)`` on
a sequence's volume (4D, cine) segments every time point into a segmentation sequence (``sequence_run``).
The engine process started by the first call stays warm for the next ones; :meth:`stopEngine` ends it
(its log is kept for the session, :meth:`engineLogTail`), :meth:`cleanup` also deletes the log.

Models: :meth:`modelChoices` lists the registry's models, models imported into the user's model
folder and recently used model folders; :meth:`importModelZip` and :meth:`useModelFolder` add one.
"""

from __future__ import annotations

import logging
import queue
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import slicer
import vtk
from slicer.ScriptedLoadableModule import ScriptedLoadableModuleLogic

from .busy_wait import run_blocking
from .diagnostics import diagnostics_text
from .engine_runner import EngineManager, SegmentationJob
from .input_modality import input_modality
from .install import DependencyInstaller, installed_versions
from .job_result import JobResultMixin
from .model_catalog import DEFAULT_MODEL, ModelCatalogMixin
from .node_checks import check_node_kinds
from .parameter_node import SDSegParameterNode
from .remote_card import deferred_slices, fetch_remote_card, range_requested, remote_orientation
from .run_options import check_run_options
from .sequence_run import SequenceRun
from .time_point import shown_time_point
from .volume_adapter import SliceSelection, array_and_geometry_from_volume_node, geometry_from_volume_node, select_slices

__all__ = ["SDSegModuleLogic", "DEFAULT_MODEL"]

_MODULE_DIR = Path(__file__).resolve().parent.parent


def _queue_log(lines: "queue.Queue[str]") -> Callable[[str], None]:
    """A thread-safe log function: to Python logging now, into ``lines`` for the widget to drain."""
    def log(text: str) -> None:
        logging.info("SDSeg: %s", text)
        lines.put(text)
    return log


class SDSegModuleLogic(ModelCatalogMixin, JobResultMixin, ScriptedLoadableModuleLogic):
    """Computation of the SDSeg module; the model list, import and cards come from :class:`ModelCatalogMixin`,
    writing a finished job's result (:meth:`applyResult`) from :class:`~SDSegLib.job_result.JobResultMixin`.

    Args:
        engineManager: inject an :class:`EngineManager` (tests, or to share one engine between
            logic instances); by default one is created on first use.
    """

    requirementsFile: Path = _MODULE_DIR / "Resources" / "requirements.txt"
    """The engine's Python requirements (torch is added), checked before a local engine is used."""

    def __init__(self, engineManager: Optional[EngineManager] = None) -> None:
        ScriptedLoadableModuleLogic.__init__(self)
        # the base class derives the module name from the class name ("SDSegModule"); the
        # parameter node must belong to the SDSeg module
        self.moduleName = "SDSeg"
        self._log: "queue.Queue[str]" = queue.Queue()
        self._manager = engineManager
        self._cards: Dict[str, Any] = {}  # model spec -> (card file stamp, card): ModelCatalogMixin._cachedCard
        self._registry: Any = None
        self._remoteCards: Dict[str, Dict[str, Any]] = {}  # remote engine URL -> its model card (SDSegLib.remote_card)
        self._lastAxis = 2  # the slicing axis prepareInput last counted along

    # ------------------------------------------------------------------ state and info
    def getParameterNode(self) -> SDSegParameterNode:
        return SDSegParameterNode(super().getParameterNode())

    def _enqueue(self, text: str) -> None:
        """Thread-safe log: to Python logging now, to the GUI log when the widget drains it."""
        _queue_log(self._log)(text)

    def drainLog(self) -> List[str]:
        lines = []
        while not self._log.empty():
            lines.append(self._log.get_nowait())
        return lines

    @property
    def engineManager(self) -> EngineManager:
        """The engine manager; one made here stops its engine when the logic is garbage-collected (a script's
        ``SDSegModuleLogic().process(volume)``: else it kept the model in GPU memory until Slicer exits)."""
        if self._manager is None:
            self._manager = EngineManager(log=_queue_log(self._log))  # no reference back to self: it can be collected
            weakref.finalize(self, self._manager.stop)
        return self._manager

    def stopEngine(self) -> None:
        """Stop the local engine; its log stays readable (:meth:`engineLogTail`) until :meth:`cleanup`."""
        if self._manager is not None:
            self._manager.stop()

    def cleanup(self) -> None:
        """Stop the local engine and delete the session's engine log (the module's cleanup)."""
        if self._manager is not None:
            self._manager.close()

    def engineLogTail(self, lines: int = 20) -> str:
        """The last lines of this session's local engine log (``""`` before the first engine start)."""
        return self._manager.log_tail(lines) if self._manager is not None else ""

    def diagnosticsText(self, model: str, deviceLine: str = "", remoteUrl: str = "") -> str:
        """Versions, device, model id/version and the engine log's last lines, as plain text for a bug report."""
        path = self._manager.log_path if self._manager is not None else None
        return diagnostics_text(self.versionsText(), deviceLine, model, self._cachedCard(model), str(path or ""),
                                self.engineLogTail(40), str(getattr(slicer.app, "applicationVersion", "") or ""), remoteUrl)

    def versionsText(self) -> str:
        from SDSegLogic import __version__

        versions = installed_versions()
        return f"SDSeg engine {__version__}; " + ", ".join(f"{k} {v}" for k, v in versions.items())

    def setupPythonRequirements(self, confirm: bool = True) -> None:
        """Install torch and the engine requirements if missing (asks once; never in testing mode)."""
        installer = DependencyInstaller(
            self.requirementsFile, log=self._enqueue,
            confirm=(lambda message: slicer.util.confirmOkCancelDisplay(message, "SDSeg")) if confirm else None,
            testing=slicer.app.testingEnabled())
        installer.ensure()

    # ------------------------------------------------------------------ running
    def sliceSelection(self, inputVolume: Any, model: str = DEFAULT_MODEL, roiNode: Any = None, firstSlice: int = 0,
                       lastSlice: int = -1, remoteUrl: str = "", remoteToken: str = "", refresh: bool = False) -> SliceSelection:
        """The slices a run would segment, along the axis the model slices this volume across.

        The axis is the engine's (:func:`volume_adapter.slicing_axis`): k only when the volume is
        stored in the model's slice plane, e.g. j for a CT stored as coronal slices and an axial
        model. An ROI overrides ``firstSlice``/``lastSlice``. Reads the grid only, not the voxels.
        With ``remoteUrl`` the remote engine's model card decides (:mod:`SDSegLib.remote_card`):
        asked from the engine when ``refresh``, else the one last seen (no network: the panel).

        Raises:
            InputError: no volume, an empty range, an ROI outside the volume, or a range for a
                remote engine whose model orientation is not known.
            SDSegError: ``refresh`` and the remote engine cannot be reached.
        """
        geometry = geometry_from_volume_node(inputVolume)
        corners = None if roiNode is None else self._roiCorners(roiNode, inputVolume)
        url = str(remoteUrl or "").strip()
        orientation = self.modelOrientation(model)
        if url:
            if refresh:
                self._remoteCards[url] = fetch_remote_card(url, str(remoteToken or "").strip())
            needed = range_requested(roiNode, firstSlice, lastSlice)
            orientation = remote_orientation(self._remoteCards.get(url, {}), url, needed) or "LPS"  # "LPS": every slice
        return select_slices(geometry, orientation, firstSlice, lastSlice, corners)

    def remoteCard(self, remoteUrl: str) -> Optional[Dict[str, Any]]:
        """The model card last seen from the remote engine at ``remoteUrl`` (None: not asked yet)."""
        return self._remoteCards.get(str(remoteUrl or "").strip())

    @staticmethod
    def _roiCorners(roiNode: Any, inputVolume: Any) -> np.ndarray:
        """The ROI's 8 corners in the volume's local RAS frame (through parent transforms)."""
        bounds = [0.0] * 6
        roiNode.GetRASBounds(bounds)
        corners = np.array([[x, y, z] for x in bounds[0:2] for y in bounds[2:4] for z in bounds[4:6]])
        toLocal = vtk.vtkGeneralTransform()  # world -> the volume's local frame (parent transforms)
        slicer.vtkMRMLTransformNode.GetTransformBetweenNodes(None, inputVolume.GetParentTransformNode(), toLocal)
        return np.array([toLocal.TransformPoint(list(p)) for p in corners])

    inputModality = staticmethod(input_modality)  # DICOM Modality, or "photo" for a colour picture

    def prepareInput(self, inputVolume: Any, roiNode: Any = None, firstSlice: int = 0, lastSlice: int = -1,
                     model: str = DEFAULT_MODEL, remoteUrl: str = "", remoteToken: str = "",
                     ) -> Tuple[np.ndarray, Any, Optional[Tuple[int, int]]]:
        """(array copy (K, J, I[, 3]), LPS geometry, slice range or None) of the input volume.

        The slice range is in voxel indices across the model's slicing axis (see :meth:`sliceSelection`;
        a remote engine is asked for its model card when only some slices are asked for).
        """
        refresh = bool(str(remoteUrl or "").strip()) and range_requested(roiNode, firstSlice, lastSlice)
        selection = self.sliceSelection(inputVolume, model, roiNode, firstSlice, lastSlice, remoteUrl, remoteToken, refresh)
        self._lastAxis = selection.axis
        array, geometry = array_and_geometry_from_volume_node(inputVolume)
        return array, geometry, selection.slices

    def startJob(self, inputVolume: Any, model: str = DEFAULT_MODEL, device: str = "auto", steps: int = 1, samples: int = 1,
                 seed: int = 0, batchSize: int = 8, roiNode: Any = None, firstSlice: int = 0, lastSlice: int = -1,
                 wantProbabilities: bool = False, wantVariance: bool = False, remoteUrl: str = "",
                 remoteToken: str = "", gpuKernels: str = "auto", strict: bool = False,
                 nanPolicy: str = "reject", modality: Optional[str] = None) -> SegmentationJob:
        """Start a non-blocking segmentation; poll the returned job from a QTimer.

        ``gpuKernels`` is the local engine's compiled-kernel policy: ``auto`` (use kernels cached
        for this model and GPU), ``aot`` (build missing ones first: minutes, once) or ``off``.
        The input's modality (:meth:`inputModality`) goes with the request, so the engine warns
        when it is not the model's (e.g. a colour photo given to a CT model); ``strict`` makes the
        engine refuse such a modality or colour/grey channel mismatch instead (the job then ends
        with an ``error`` event, code ``input_error``, whose text names the mismatch). ``nanPolicy``
        ``"fill"`` replaces NaN/infinite voxels by the window minimum instead of refusing them.
        ``modality`` replaces :meth:`inputModality` (a sequence's time point takes its browsed volume's).

        With a remote engine and a slice range or ROI, the engine's model card (which decides the axis
        the range counts along: :mod:`SDSegLib.remote_card`) is asked for in the job's worker thread,
        so an engine that does not answer never freezes the GUI and Cancel stays usable; an engine
        that cannot be reached, or whose card names no orientation, then ends the job with an
        ``error`` event.

        Raises:
            InputError: ``inputVolume`` or ``roiNode`` is not a node of the kind it takes
                (:func:`~SDSegLib.node_checks.check_node_kinds`), ``device`` is not a device name,
                ``nanPolicy`` or ``gpuKernels`` not one of its choices, or a number option not a whole number
                or out of range (:func:`~SDSegLib.run_options.check_run_options`), or the slice range is empty
                (local engine).
            CheckpointError: a local engine could not load ``model`` (:meth:`checkModelAvailable`).
        """
        check_node_kinds(inputVolume, roiNode=roiNode)
        checked = check_run_options(device, steps=steps, samples=samples, seed=seed, batchSize=batchSize,  # before any engine
                                    firstSlice=firstSlice, lastSlice=lastSlice, nanPolicy=nanPolicy, gpuKernels=gpuKernels)
        device, steps, samples, seed, batchSize, firstSlice, lastSlice, nanPolicy, gpuKernels = (checked[k] for k in (
            "device", "steps", "samples", "seed", "batchSize", "firstSlice", "lastSlice", "nanPolicy", "gpuKernels"))
        self.checkModelAvailable(model, remoteUrl)
        url, prepare = str(remoteUrl or "").strip(), None
        if url and range_requested(roiNode, firstSlice, lastSlice):  # the card, asked in the job's worker, decides the slices
            corners = None if roiNode is None else self._roiCorners(roiNode, inputVolume)
            prepare = deferred_slices(url, str(remoteToken or "").strip(), geometry_from_volume_node(inputVolume),
                                      int(firstSlice), int(lastSlice), corners, self._remoteCards)
            (array, geometry), slices = array_and_geometry_from_volume_node(inputVolume), None
        else:
            array, geometry, slices = self.prepareInput(inputVolume, roiNode, firstSlice, lastSlice, model, remoteUrl, remoteToken)
        job = SegmentationJob(self.engineManager, array, geometry, model, device, remoteUrl, remoteToken, gpuKernels,
                              num_inference_steps=int(steps), num_samples=int(samples), seed=int(seed), slices=slices,
                              batch_size=int(batchSize), want_probabilities=bool(wantProbabilities), want_variance=bool(wantVariance)
                              and int(samples) > 1, modality=self.inputModality(inputVolume) if modality is None else str(modality),
                              strict=bool(strict), nan_policy=str(nanPolicy))
        job.volumeNodeID, job.sliceAxis = inputVolume.GetID(), self._lastAxis  # sliceAxis: what ``slices`` count along
        job.logic = self  # ``SDSegModuleLogic().startJob(...)``: its engine is not stopped while the job runs
        job.prepare = prepare  # None, or sets job.options["slices"] and job.sliceAxis before the engine is asked
        job.registry = self._registryOrEmpty()  # the warm engine's model files are checked as the panel resolves them
        job.timePoint = shown_time_point(inputVolume)  # a sequence's volume: the time point segmented (applyResult)
        return job.start()

    def startSequenceJob(self, inputVolume: Any, outputSegmentation: Any = None, **options: Any) -> SequenceRun:
        """:meth:`startJob` for every time point of the sequence ``inputVolume`` browses (its proxy node).

        Same keyword options, without maps; :meth:`applyResult` then adds the segmentation sequence
        (:mod:`SDSegLib.sequence_run`: one job per time point; a cancel or failure adds nothing).
        """
        return SequenceRun(self, inputVolume, options, outputSegmentation, log=self._enqueue).start()

    def process(self, inputVolume: Any, outputSegmentation: Any = None, model: str = DEFAULT_MODEL, device: str = "auto",
                steps: int = 1, samples: int = 1, seed: int = 0, batchSize: int = 8, roiNode: Any = None,
                probabilityVolume: Any = None, uncertaintyVolume: Any = None, remoteUrl: str = "", remoteToken: str = "",
                gpuKernels: str = "auto", firstSlice: int = 0, lastSlice: int = -1, strict: bool = False,
                nanPolicy: str = "reject", allTimePoints: bool = False, timeout: Optional[float] = None) -> Any:
        """Segment ``inputVolume`` and return the segmentation node (blocking; for scripts and tests).

        Args:
            inputVolume: vtkMRMLScalarVolumeNode (CT) or vtkMRMLVectorVolumeNode (RGB photo); not modified.
            outputSegmentation: segmentation node to update, or None to create one. After a run on
                some slices only those slices of its segments change.
            model: registry id, ``id@version`` or model folder. device: "auto", "cpu", "cuda", "cuda:N" or "mps".
            steps: 1 = single-step (paper); more = DDIM steps. samples: > 1 adds a variance map.
            seed: random seed. batchSize: slices per network batch (lower it if the GPU runs out of memory).
            roiNode: optional markups ROI; only the slices it covers are segmented (overrides the slice numbers).
            probabilityVolume, uncertaintyVolume: optional scalar volume nodes to fill (foreground
                probability; variance over the samples, needs samples > 1: refused otherwise).
            remoteUrl, remoteToken: a remote engine (``sdseg://host:port`` and its token) instead of a local one.
            gpuKernels: "auto", "aot" or "off" (see :meth:`startJob`).
            firstSlice, lastSlice: the slices to segment (inclusive; lastSlice -1 = the last one),
                counted along the axis the model slices this volume across, as in the panel: k for
                an axial CT and an axial model, j for a CT stored as coronal slices
                (:meth:`sliceSelection` tells the axis and the count).
            strict: refuse an input whose modality or colour/grey channels do not match what the
                model was trained on (e.g. a colour photo for a CT model) instead of segmenting it
                with a warning, as the panel's "Refuse mismatched inputs (strict)" does.
            nanPolicy: "reject" (default) refuses NaN/infinite voxels; "fill" replaces them with the
                window minimum and adds a warning.
            allTimePoints: ``inputVolume`` is the proxy node of a sequence browser (a 4D/cine series):
                segment every time point and return the segmentation that browses the resulting
                segmentation sequence (no maps). A cancel or failure adds nothing.
            timeout: seconds to wait for the result (None: as long as it takes, also while the engine
                is busy with another client's run); past it the run is cancelled, nothing is written.

        Returns:
            The segmentation node written: ``outputSegmentation``, or the new node (named
            ``"<input> SDSeg"``, made unique); with ``allTimePoints``, the one that browses the
            segmentation sequence. The run's warnings are its attribute ``SDSeg.Warnings``.

        Raises:
            InputError: a node argument of the wrong kind (e.g. a segmentation or labelmap as
                ``inputVolume``, swapped arguments; :mod:`SDSegLib.node_checks`), an unknown ``device``
                name, ``nanPolicy`` or ``gpuKernels``, a number option not a whole number or out of range
                (:mod:`SDSegLib.run_options`), or unusable outputs; checked before any engine starts.
            CheckpointError: ``model`` is not available here (:meth:`checkModelAvailable`); nothing starts.
            InstallDeclined, InstallFailed (``SDSegLib.install``): a local engine's Python packages
                (torch, :attr:`requirementsFile`) are missing and were not installed: the user said
                no, Slicer runs in testing mode, or the PyTorch extension is missing (the message
                says what to install); nothing starts.
            SDSegError: other invalid input, engine errors (message says what to do; a mismatch refused
                under ``strict`` is an EngineError with code ``input_error``), CancelledError,
                ProcessTimeoutError (also a TimeoutError) when ``timeout`` passed.
        """
        check_node_kinds(inputVolume, outputSegmentation, probabilityVolume, uncertaintyVolume, roiNode)  # swapped arguments
        # e.g. device="gpu": refused before the install check and any engine; startJob (the panel's path) checks them too
        checked = check_run_options(device, steps=steps, samples=samples, seed=seed, batchSize=batchSize, firstSlice=firstSlice,
                                    lastSlice=lastSlice, nanPolicy=nanPolicy, gpuKernels=gpuKernels)  # {"device": ..., "steps": int, ...}
        self.checkOutputVolumes(inputVolume, probabilityVolume, uncertaintyVolume, samples=checked["samples"],  # before the run
                                segmentation=None if allTimePoints else outputSegmentation)
        if not str(remoteUrl or "").strip():  # as the panel's Segment: torch and the engine's packages, else say how
            self.setupPythonRequirements()
        options = dict(checked, model=model, roiNode=roiNode, wantProbabilities=probabilityVolume is not None, strict=strict,
                       wantVariance=uncertaintyVolume is not None, remoteUrl=remoteUrl, remoteToken=remoteToken)
        job = run_blocking(lambda: self.startSequenceJob(inputVolume, outputSegmentation, **options) if allTimePoints
                           else self.startJob(inputVolume, **options), timeout)  # raises unless the run ends done
        return self.applyResult(job, inputVolume, outputSegmentation, probabilityVolume, uncertaintyVolume)
