"""Slots of the panel's model-management buttons and of Copy diagnostics (needs Slicer's ``qt``).

:class:`PanelActionsMixin` is a base class of ``SDSegWidget`` (kept apart so that ``SDSeg.py``
stays small). Each button's work is done by ``SDSegModuleLogic``; a slot only opens the file
dialog (one call, which tests cannot drive) and hands the chosen path to a method that tests
call directly: :meth:`importModelZip` and :meth:`useModelFolder`.

The host widget provides ``ui``, ``logic``, ``parent``, ``_job`` (the running Segment job, or
None), ``_errorsShown(message)`` (shows an error in a dialog and the status log), ``_log(text)``
and ``_onModelOrDeviceChanged()``.
"""

from __future__ import annotations

import queue
import threading

import qt
import slicer
from slicer.i18n import tr as _

from SDSegLogic.errors import CancelledError

from .gui_wait import GuiCalls, run_keeping_gui_alive
from .model_panel import fill_model_combo, remember_model_folder

__all__ = ["PanelActionsMixin"]

class PanelActionsMixin:
    """Import model zip (and Cancel import), Use model folder, Open models folder and Copy diagnostics."""

    def _selectModel(self, spec: str) -> None:
        """Select a model (a folder also goes to the recent folders) and show its card."""
        remember_model_folder(spec)
        fill_model_combo(self.ui, self.logic, spec)
        self._onModelOrDeviceChanged()
        for text in self.logic.drainLog():
            self._log(text)

    def _listDuringRun(self, spec: str) -> None:
        """Add a model to the list without selecting it: a run started meanwhile keeps its model selected."""
        remember_model_folder(spec)
        fill_model_combo(self.ui, self.logic, self.ui.modelComboBox.currentData)
        self._log(_("'{spec}' is in the model list: choose it after the run.").format(spec=spec))

    def onImportModelZip(self) -> None:
        path = qt.QFileDialog.getOpenFileName(self.parent, _("Import model zip"), "", _("Model zip (*.zip)"))
        if path:
            self.importModelZip(path)

    def cancelModelImport(self) -> None:
        """Stop the running model zip import before it installs anything (Cancel import, closing the module).

        Stopped while the zip is read or while the import waits for another import of the same model;
        an import that holds the model's lock (unpacking, checking, moving it in) finishes.
        """
        cancel = getattr(self, "_importCancel", None)
        if cancel is not None and not cancel.is_set():
            cancel.set()
            self._log(_("Cancelling the model zip import ..."))

    def importModelZip(self, path: str) -> None:
        """Install a model zip into the models folder and select it; asks before replacing an installed copy.

        The import runs in a worker thread while the panel keeps answering: when it waits for another
        import of the same model (another Slicer, ``sdseg models import``), the status line and log
        say which one (its process, zip and start time) until it has finished, and the Cancel import
        button, shown meanwhile, stops the wait (:meth:`cancelModelImport`). When it ends, the status
        line is given back (or says the import was cancelled or failed) only if it still shows what the
        import put there: a run started meanwhile keeps its own line ("Starting the engine ..."), and a
        failed import is then said in its error dialog and the log.
        """
        if getattr(self, "_importing", False):  # a click while the panel answers during an import
            self._log(_("A model zip import is already running; wait for it to finish."))
            return
        waits: "queue.Queue[str]" = queue.Queue()
        calls, cancel = GuiCalls(), threading.Event()
        ask = calls.wrap(lambda question: slicer.util.confirmOkCancelDisplay(question, "SDSeg"))  # dialogs: GUI thread
        hint = _("Press Cancel import to stop waiting.")

        def pump() -> None:
            qt.QApplication.processEvents()
            while not waits.empty():
                self.ui.etaLabel.text = shown[0] = f"{waits.get_nowait()} {hint}"
            for text in self.logic.drainLog():
                self._log(str(text))

        stop = self.ui.cancelImportButton
        status = self.ui.etaLabel.text
        shown = [status]  # what this import last put in the status line: only that is replaced when it ends
        self._importing, self._importCancel = True, cancel
        self._updateState()  # the import button disabled, its tooltip saying why
        stop.visible = stop.enabled = True
        try:
            # a run started meanwhile keeps its status line; the dialog and the log say the import failed
            with self._errorsShown(_("The model zip was not imported."), lambda: self.ui.etaLabel.text == shown[0]):
                try:
                    spec = run_keeping_gui_alive(lambda: self.logic.importModelZip(
                        path, confirmReplace=ask, onWait=waits.put, cancelled=cancel.is_set), pump, calls)
                except CancelledError as exc:  # the user's choice: said in the status line and log, no error dialog
                    if self.ui.etaLabel.text == shown[0]:  # a run started meanwhile keeps its line; the log says it
                        self.ui.etaLabel.text = _("Model zip import cancelled; nothing was installed.")
                    self._log(str(exc))
                    return
                if cancel.is_set():  # pressed once it held the model's lock: an import is not stopped half-way
                    self._log(_("Cancel import came after the import had begun installing; the import was completed."))
                if self.ui.etaLabel.text == shown[0]:  # not a run's "Starting the engine ..." begun meanwhile
                    self.ui.etaLabel.text = status
                if self._job is None:
                    self._selectModel(spec)
                else:  # Segment was pressed meanwhile: the run's model stays selected (RUN_CONTROLS are locked)
                    self._listDuringRun(spec)
        finally:
            self._importing, self._importCancel = False, None
            self._updateState()  # enabled again, unless a run started meanwhile locks it
            stop.visible = stop.enabled = False

    def onUseModelFolder(self) -> None:
        path = qt.QFileDialog.getExistingDirectory(self.parent, _("Choose a model folder"), str(self.logic.modelsFolder()))
        if path:
            self.useModelFolder(path)

    def useModelFolder(self, path: str) -> None:
        """Verify a model folder (config, card, weight checksums, tensor names and shapes), add it to the list and select it.

        The check (it imports torch and reads every weight file) runs in a worker thread while the
        panel keeps answering; a folder refused shows a dialog naming the file and tensor, and the
        selection stays as it was. A run started meanwhile (Segment pressed during the check) keeps
        its model selected and its status line: the folder is added to the list (the log says to
        choose it after the run), a refusal is said in its dialog and the log.
        """
        self._checkingFolder = True
        self._updateState()  # one check at a time: the button disabled (also by a parameter change meanwhile)
        status = self.ui.etaLabel.text
        try:
            with self._errorsShown(_("This folder is not a usable SDSeg model."), lambda: self.ui.etaLabel.text == status):
                spec = run_keeping_gui_alive(lambda: self.logic.useModelFolder(path), qt.QApplication.processEvents)
                if self._job is None:
                    self._selectModel(spec)
                else:  # the run's model stays selected (RUN_CONTROLS are locked)
                    self._listDuringRun(spec)
        finally:
            self._checkingFolder = False
            self._updateState()  # enabled again, unless a run started meanwhile locks it (RUN_CONTROLS)

    def onOpenModelsFolder(self) -> None:
        """Show the models folder (created if missing) in the system's file browser."""
        with self._errorsShown(_("The models folder could not be opened.")):
            folder = self.logic.modelsFolder()
            if not qt.QDesktopServices.openUrl(qt.QUrl.fromLocalFile(str(folder))):
                self._log(_("Models folder: {folder}").format(folder=folder))

    def onCopyDiagnostics(self) -> None:
        """Copy versions, device, model and the engine log's last lines to the clipboard (for a bug report)."""
        model = self.ui.modelComboBox.currentData or self.logic.getParameterNode().modelId
        text = self.logic.diagnosticsText(model, self.ui.deviceInfoLabel.text, self.ui.remoteUrlLineEdit.text.strip())
        qt.QApplication.clipboard().setText(text)
        self._log(_("Diagnostics (versions, device, model, engine log) copied to the clipboard."))
