"""SDSeg: latent-diffusion segmentation (Lin et al., MICCAI 2024) of CT volumes and colour photos.

Module / Widget / Logic / Test, as in Slicer's scripted-module template. The widget only wires
the .ui to the logic; :class:`SDSegModuleLogic` does the work and is usable from the Python
console and ``Slicer --no-main-window --python-script``; the network runs in a separate engine
process (``python -m SDSegLogic.server``), so a crash or out-of-memory never takes Slicer down.

Naming: the engine package is ``SDSegLogic`` (importable because it is installed next to this
file, see ``SDSegLogic/CMakeLists.txt``), so the module's logic class is ``SDSegModuleLogic``.
Slicer does not look a scripted module's logic class up by name, and a class called
``SDSegLogic`` here would shadow the package inside this file.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import sys
from functools import partial
from pathlib import Path
from typing import Callable, Optional

import qt
import slicer
import vtk
from slicer.i18n import tr as _
from slicer.i18n import translate
from slicer.ScriptedLoadableModule import ScriptedLoadableModule, ScriptedLoadableModuleTest, ScriptedLoadableModuleWidget
from slicer.util import VTKObservationMixin

_HERE = Path(__file__).resolve().parent
if importlib.util.find_spec("SDSegLogic") is None and (_HERE.parent / "SDSegLogic").is_dir():
    sys.path.insert(0, str(_HERE.parent))  # running from a source checkout

from SDSegLib.job_end import JobEndMixin, input_gone  # noqa: E402
from SDSegLib.model_panel import fill_model_combo  # noqa: E402
from SDSegLib.module_logic import DEFAULT_MODEL, SDSegModuleLogic  # noqa: E402
from SDSegLib.node_checks import INPUT_CLASSES  # noqa: E402
from SDSegLib.node_observer import ModifiedObserver  # noqa: E402
from SDSegLib.panel_actions import PanelActionsMixin  # noqa: E402
from SDSegLib.panel_state import (  # noqa: E402
    DoubleClickGuard, lock_run_controls, run_map_volumes, show_job_event, show_warnings, update_option_states,
    update_segment_button, update_slices_and_estimate,
)
from SDSegLib.parameter_node import DEVICE_CHOICES, GPU_KERNEL_CHOICES, SDSegParameterNode  # noqa: E402
from SDSegLib.sequence_input import time_point_count  # noqa: E402
from SDSegLogic.errors import SDSegError  # noqa: E402


class SDSeg(ScriptedLoadableModule):
    """Module metadata."""

    def __init__(self, parent):
        ScriptedLoadableModule.__init__(self, parent)
        self.parent.title = _("SDSeg Diffusion Segmentation")
        self.parent.categories = [translate("qSlicerAbstractCoreModule", "Segmentation")]
        self.parent.dependencies = []
        self.parent.contributors = ["SDSeg for 3D Slicer contributors", "Tianyu Lin, Zhiguang Chen, Zhonghao Yan, Weijiang Yu, Fudan Zheng (SDSeg authors)"]
        self.parent.helpText = _(
            "Segments CT volumes and colour photos (fundus, endoscopy) with Stable Diffusion Segmentation (SDSeg). "
            "Choose the input and a model, press <b>Segment</b>. The model runs in a separate engine process: Slicer stays "
            "responsive, the progress bar shows the time left and <b>Cancel</b> stops the run. Several samples give an "
            "uncertainty (variance) map. Research use only; not a medical device.")
        self.parent.acknowledgementText = _(
            "SDSeg: T. Lin, Z. Chen, Z. Yan, W. Yu, F. Zheng, 'Stable Diffusion Segmentation for Biomedical Images with "
            "Single-step Reverse Process', MICCAI 2024. Built on PyTorch, diffusers and 3D Slicer's scripted-module template.")
        slicer.app.connect("startupCompleted()", registerSampleData)


def registerSampleData():
    """Register the bundled CT and fundus samples in the Sample Data module."""
    from SDSegLib.sample_data import register_sample_data

    register_sample_data(_HERE)


class SDSegWidget(ScriptedLoadableModuleWidget, VTKObservationMixin, PanelActionsMixin, JobEndMixin):
    """GUI: no computation here, only wiring between the .ui, the parameter node and the logic.

    The model-management and Copy-diagnostics buttons' slots come from :class:`PanelActionsMixin`;
    cancelling, resetting the panel and writing the result when a run ends, from :class:`JobEndMixin`.
    """

    def __init__(self, parent=None) -> None:
        ScriptedLoadableModuleWidget.__init__(self, parent)
        VTKObservationMixin.__init__(self)
        self.logic: Optional[SDSegModuleLogic] = None
        self._parameterNode: Optional[SDSegParameterNode] = None
        self._guiTag = None
        self._job = None
        self._importing, self._importCancel = False, None  # a model zip import running (PanelActionsMixin), its cancel
        self._checkingFolder = False  # a model folder being checked (PanelActionsMixin.useModelFolder)
        self._engineDevice = ""  # "cpu"/"cuda" as the engine last reported it (for the time estimate)
        self._missingModel = None  # the selected model's list item when it is "(not found)" here
        self._clicks = DoubleClickGuard(self._log)  # a double-click on Segment or Cancel toggles the run once
        self._roiObserver = ModifiedObserver(self._updateState)  # moving the ROI refreshes the slices and estimate
        self._timer = qt.QTimer()
        self._timer.setInterval(100)
        self._timer.timeout.connect(self._onTimer)

    def setup(self) -> None:
        ScriptedLoadableModuleWidget.setup(self)
        uiWidget = slicer.util.loadUI(self.resourcePath("UI/SDSeg.ui"))
        self.layout.addWidget(uiWidget)
        self.ui = slicer.util.childWidgetVariables(uiWidget)
        uiWidget.setMRMLScene(slicer.mrmlScene)
        self.logic = SDSegModuleLogic()
        fill_model_combo(self.ui, self.logic, DEFAULT_MODEL)
        for device, text in zip(DEVICE_CHOICES, (_("Auto (GPU if available)"), _("GPU (CUDA)"), _("CPU"))):
            self.ui.deviceComboBox.addItem(text, device)
        kernelTexts = (_("Use cached compiled kernels"), _("Build compiled kernels (once, minutes)"), _("Off (plain PyTorch)"))
        for policy, text in zip(GPU_KERNEL_CHOICES, kernelTexts):
            self.ui.gpuKernelsComboBox.addItem(text, policy)
        self.ui.gpuKernelsComboBox.currentIndexChanged.connect(self._onModelOrDeviceChanged)
        self.ui.modelComboBox.currentIndexChanged.connect(self._onModelOrDeviceChanged)
        self.ui.deviceComboBox.currentIndexChanged.connect(self._onModelOrDeviceChanged)
        self.ui.segmentButton.clicked.connect(self.onSegmentButton)
        self.ui.importModelZipButton.clicked.connect(self.onImportModelZip)
        self.ui.cancelImportButton.clicked.connect(self.cancelModelImport)
        self.ui.useModelFolderButton.clicked.connect(self.onUseModelFolder)
        self.ui.openModelsFolderButton.clicked.connect(self.onOpenModelsFolder)
        self.ui.copyDiagnosticsButton.clicked.connect(self.onCopyDiagnostics)
        self.ui.remoteUrlLineEdit.textChanged.connect(self._updateState)  # a remote engine brings its own model
        self.ui.outputSegmentationSelector.currentNodeChanged.connect(self.ui.show3DButton.setSegmentationNode)
        self.ui.versionsLabel.text = self.logic.versionsText()
        show_warnings(self.ui, [])
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.StartCloseEvent, self.onSceneStartClose)
        self.addObserver(slicer.mrmlScene, slicer.mrmlScene.EndCloseEvent, self.onSceneEndClose)
        self.initializeParameterNode()

    def cleanup(self) -> None:
        self.cancelModelImport()  # a zip import waiting for another import of its model stops waiting
        self._cancelJob()
        self._roiObserver.stop()
        self.removeObservers()
        if self.logic is not None:
            self.logic.cleanup()  # stops the engine and deletes this session's engine log

    def enter(self) -> None:
        self.initializeParameterNode()

    def exit(self) -> None:
        self._roiObserver.stop()
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._guiTag)
            self._guiTag = None
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateState)

    def onSceneStartClose(self, caller, event) -> None:
        self._cancelJob(_("the scene is closing"))
        self.setParameterNode(None)

    def onSceneEndClose(self, caller, event) -> None:
        if self.parent.isEntered:
            self.initializeParameterNode()

    def initializeParameterNode(self) -> None:
        self.setParameterNode(self.logic.getParameterNode())
        if not self._parameterNode.inputVolume:  # the first volume the input selector lists (a labelmap is a scalar volume too)
            volumes = slicer.util.getNodesByClass("vtkMRMLScalarVolumeNode")
            first = next((node for node in volumes if node.GetClassName() in INPUT_CLASSES), None)
            if first is not None:
                self._parameterNode.inputVolume = first

    def setParameterNode(self, parameterNode: Optional[SDSegParameterNode]) -> None:
        if self._parameterNode:
            self._parameterNode.disconnectGui(self._guiTag)
            self.removeObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateState)
            self._roiObserver.stop()
        self._parameterNode = parameterNode
        if self._parameterNode:
            self._guiTag = self._parameterNode.connectGui(self.ui)
            self.addObserver(self._parameterNode, vtk.vtkCommand.ModifiedEvent, self._updateState)
            self._showParameterChoices(refill=True)
            self._updateState()

    def _showParameterChoices(self, refill: bool = False) -> None:
        """Set the model, device and GPU-kernels combo boxes (synced by hand) to the parameter node's values.

        Also when a loaded scene's saved parameters replaced the node's content (Slicer copies a
        singleton node's content on import, with one ModifiedEvent): the panel then shows, and
        Segment uses, the saved model. ``refill``: list the models again (a new parameter node).
        """
        p, ui = self._parameterNode, self.ui
        if p is None:
            return
        model, device, kernels = p.modelId, p.device, p.gpuKernels  # read all before a combo writes them back
        if not refill and (ui.modelComboBox.currentData, ui.deviceComboBox.currentData, ui.gpuKernelsComboBox.currentData) == (
                model, device, kernels):
            return
        if refill or ui.modelComboBox.findData(model) < 0:
            fill_model_combo(ui, self.logic, model)  # a saved model missing from the list is added, not replaced
        for combo, value in ((ui.modelComboBox, model), (ui.deviceComboBox, device), (ui.gpuKernelsComboBox, kernels)):
            blocked = combo.blockSignals(True)
            combo.setCurrentIndex(max(0, combo.findData(value)))
            combo.blockSignals(blocked)
        self._onModelOrDeviceChanged()

    def _onModelOrDeviceChanged(self, _index=None) -> None:
        model = self.ui.modelComboBox.currentData or DEFAULT_MODEL
        if self._parameterNode:
            self._parameterNode.modelId = model
            self._parameterNode.device = self.ui.deviceComboBox.currentData or "auto"
            self._parameterNode.gpuKernels = self.ui.gpuKernelsComboBox.currentData or "auto"
        choice = self.logic.describeModel(model)
        self._missingModel = None if choice.found else choice
        self.ui.modelCardLabel.text = self.logic.modelSummary(model)
        self.ui.modelCardLabel.toolTip = self.logic.modelToolTip(model)
        self._updateState()

    def _updateState(self, caller=None, event=None) -> None:
        running = self._job is not None
        p = self._parameterNode
        self._showParameterChoices()  # e.g. a loaded scene's saved model, device and kernels policy
        missing = None if self.ui.remoteUrlLineEdit.text.strip() else self._missingModel
        update_segment_button(self.ui, running, bool(p and p.inputVolume), missing)
        self._roiObserver.follow(p.roiNode if p is not None else None)
        busy = {}  # one model zip import and one model folder check at a time, each button saying why
        if self._importing:
            busy["importModelZipButton"] = _("A model zip is being imported: wait for it, or press Cancel import.")
        if self._checkingFolder:
            busy["useModelFolderButton"] = _("A model folder is being checked: wait for the check to end.")
        lock_run_controls(self.ui, running, busy)  # during a run only Cancel and what changes nothing stay usable
        if p is not None and not running:
            update_option_states(self.ui, p)  # after the lock: disables again what would be ignored
            update_slices_and_estimate(self.ui, self.logic, p, self._engineDevice)

    def _log(self, text: str) -> None:
        self.ui.statusLog.appendPlainText(text)
        logging.info("SDSeg: %s", text)

    @contextlib.contextmanager
    def _errorsShown(self, message: str, statusLine: Callable[[], bool] = lambda: True):
        """Show an error (dialog + log) and keep it inside this Qt slot.

        ``slicer.util.tryWithErrorDisplay`` shows the error, then re-raises it; an exception that
        escapes a slot would skip the code that resets the panel. ``statusLine()``: whether ``message``
        also goes to the status line (False: a run started meanwhile keeps its line; dialog and log say it).
        """
        try:
            with slicer.util.tryWithErrorDisplay(message, waitCursor=True):
                yield
        except Exception as exc:  # noqa: BLE001 - already displayed
            if statusLine():
                self.ui.etaLabel.text = message
            self._log(f"{message} {exc}")

    def onSegmentButton(self) -> None:
        if self._clicks.ignored(self._job is not None, self.ui.progressBar.maximum > 0, qt.QApplication.doubleClickInterval()):
            return  # the second click of a double-click does not toggle the run back
        if self._job is not None:
            if not self._job.cancelPressed:  # pressed again before the engine confirmed: said once
                self._job.cancelPressed = True
                self._log(_("Cancelling (the engine stops after the current batch of slices) ..."))
            self._job.cancel()
            return
        p = self._parameterNode
        self.ui.progressBar.setValue(0)  # nothing of the last run's bar stays, also when this one is refused
        with self._errorsShown(_("SDSeg could not start.")):
            sequence = p.allTimePoints and time_point_count(p.inputVolume) > 0  # every time point of a 4D/cine input
            probability, uncertainty, leftOut = run_map_volumes(p, sequence)  # a map whose selector is disabled: not written
            self.logic.checkOutputVolumes(p.inputVolume, probability, uncertainty,
                                          segmentation=None if sequence else p.outputSegmentation)  # before the run, not after
            if not self.ui.remoteUrlLineEdit.text.strip():  # a remote engine brings its own torch and packages
                self.logic.setupPythonRequirements()
            # a sequence's output segmentation is checked by SequenceRun when it starts, not when the result is added
            job = (partial(self.logic.startSequenceJob, outputSegmentation=p.outputSegmentation) if sequence else self.logic.startJob)(
                p.inputVolume, model=p.modelId, device=p.device, steps=p.steps, samples=p.samples, seed=p.seed,
                batchSize=p.batchSize, roiNode=p.roiNode, firstSlice=p.firstSlice, lastSlice=p.lastSlice,
                wantProbabilities=probability is not None, wantVariance=uncertainty is not None,
                remoteUrl=self.ui.remoteUrlLineEdit.text.strip(), remoteToken=self.ui.remoteTokenLineEdit.text.strip(),
                gpuKernels=p.gpuKernels, strict=p.strict, nanPolicy="fill" if p.fillNonFinite else "reject")
            outputs = (p.outputSegmentation, probability, uncertainty)  # where the result goes: fixed now
            job.outputNodeIDs = tuple(node.GetID() if node is not None else None for node in outputs)
            job.outputNodeNames = tuple(node.GetName() if node is not None else None for node in outputs)
            self._job = job
            for note in leftOut:
                self._log(note)
            self.ui.progressBar.setRange(0, 0)  # busy until the engine reports the first slices
            self.ui.etaLabel.text = _("Starting the engine ...")
            show_warnings(self.ui, [])
            self._timer.start()
        self._updateState()

    def _onTimer(self) -> None:
        self._drainLog()
        job = self._job
        if job is None:
            self._timer.stop()
            return
        reason = input_gone(job)
        if reason:  # deleted, or another voxel grid (resampled, cropped, another image loaded): nothing could be written
            self._cancelJob(reason)
            return
        for event in job.poll():
            if event.kind not in ("done", "cancelled", "error"):
                self._engineDevice = show_job_event(self.ui, event) or self._engineDevice
                continue
            written = False
            try:
                with self._errorsShown(_("SDSeg could not write the result.")):
                    written = self._onJobEnd(job, event)
            finally:
                self._endJob(written)
            return


class SDSegTest(ScriptedLoadableModuleTest):
    """In-Slicer test: CT sample -> Segment with the demo model -> names, colours, alignment.

    Run: ``Slicer --no-main-window --python-script Testing/Slicer/run_sdseg_test.py``.
    """

    def setUp(self):
        slicer.mrmlScene.Clear()

    def runTest(self):
        for test in (self.test_ParameterNode, self.test_FundusSampleGeometry, self.test_SegmentCTSample):
            self.setUp()
            test()

    def test_ParameterNode(self):
        node = SDSegModuleLogic().getParameterNode()
        self.assertEqual(node.steps, 1)
        self.assertIn(node.device, DEVICE_CHOICES)
        self.assertEqual(node.gpuKernels, "auto")  # never builds kernels unless asked
        self.assertIn(node.gpuKernels, GPU_KERNEL_CHOICES)
        self.assertFalse(node.strict)  # a mismatched input warns unless strict checking is asked for

    def test_FundusSampleGeometry(self):
        """The RGB photo loads as a vector volume and converts to (1, H, W, 3) + the same grid."""
        import numpy as np
        import SampleData
        from SDSegLib.volume_adapter import array_and_geometry_from_volume_node, matrix_to_numpy

        registerSampleData()
        photo = SampleData.downloadSample("SDSeg fundus photo")
        self.assertTrue(photo.IsA("vtkMRMLVectorVolumeNode"))
        self.assertEqual(SDSegModuleLogic.inputModality(photo), "photo")  # no DICOM modality, RGB: sent as a photo
        array, geometry = array_and_geometry_from_volume_node(photo)
        self.assertEqual(array.shape, (1, *slicer.util.arrayFromVolume(photo).shape[1:3], 3))
        ijkToRAS = vtk.vtkMatrix4x4()
        photo.GetIJKToRASMatrix(ijkToRAS)
        np.testing.assert_allclose(geometry.ijk_to_ras(), matrix_to_numpy(ijkToRAS), atol=1e-9)

    def test_SegmentCTSample(self):
        """Segment the CT sample with the demo model: names, colours, voxel alignment, input untouched."""
        import numpy as np
        import SampleData

        registerSampleData()
        volume = SampleData.downloadSample("SDSeg CT chest-abdomen")
        before = slicer.util.arrayFromVolume(volume).copy()
        logic = SDSegModuleLogic()
        card = logic.modelCard(DEFAULT_MODEL)
        job = logic.startJob(volume, model=DEFAULT_MODEL, device="cpu")  # the widget's non-blocking path
        events = job.wait(timeout=900)
        self.assertEqual(events[-1].kind, "done", events[-1].text)
        segmentation = logic.applyResult(job, volume)
        seg = segmentation.GetSegmentation()
        self.assertEqual([seg.GetNthSegment(i).GetName() for i in range(seg.GetNumberOfSegments())],
                         [c["name"] for c in card["classes"]])
        for i, cls in enumerate(card["classes"]):
            np.testing.assert_allclose(seg.GetNthSegment(i).GetColor(), cls["color"], atol=1e-6)
            mask = slicer.util.arrayFromSegmentBinaryLabelmap(segmentation, seg.GetNthSegmentID(i), volume)
            np.testing.assert_array_equal(mask > 0, job.output.labels == cls["label_value"])  # voxel for voxel
        np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), before)  # input untouched
        role = slicer.vtkMRMLSegmentationNode.GetReferenceImageGeometryReferenceRole()
        self.assertEqual(segmentation.GetNodeReference(role).GetID(), volume.GetID())
        self.assertEqual(logic.sliceSelection(volume, DEFAULT_MODEL).letter, "k")  # an axial CT, an axial model
        second = logic.applyResult(job, volume)  # no output chosen again: a new node, the first one is kept
        self.assertNotEqual(second.GetName(), segmentation.GetName())
        again = logic.process(volume, segmentation, model=DEFAULT_MODEL, device="cpu")  # blocking API, warm engine
        self.assertIs(again, segmentation)
        part = logic.process(volume, model=DEFAULT_MODEL, device="cpu", firstSlice=2, lastSlice=3)  # slices k 2..3 only
        for i in range(len(card["classes"])):
            mask = slicer.util.arrayFromSegmentBinaryLabelmap(part, part.GetSegmentation().GetNthSegmentID(i), volume)
            self.assertFalse(mask[:2].any() or mask[4:].any())
        photo = SampleData.downloadSample("SDSeg fundus photo")  # a colour photo for a CT model: refused when strict
        with self.assertRaisesRegex(SDSegError, "refused because strict"):
            logic.process(photo, model=DEFAULT_MODEL, device="cpu", strict=True)
        self.assertEqual(seg.GetNumberOfSegments(), len(card["classes"]))
        logic.stopEngine()
        self.delayDisplay("SDSeg test passed")
