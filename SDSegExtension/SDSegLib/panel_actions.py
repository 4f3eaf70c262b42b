"""Slots of the panel's model-management buttons and of Copy diagnostics (needs Slicer's ``qt``).

:class:`PanelActionsMixin` is a base class of ``SDSegWidget`` (kept apart so that ``SDSeg.py``
stays small). Each button's work is done by ``SDSegModuleLogic``; a slot only opens the file
dialog (one call, which tests cannot drive) and hands the chosen path to a method that tests
call directly: :meth:`importModelZip` and :meth:`useModelFolder`.

The host widget provides ``ui``, ``logic``, ``parent``, ``_errorsShown(message)`` (shows an
error in a dialog and the status log), ``_log(text)`` and ``_onModelOrDeviceChanged()``.
"""

from __future__ import annotations

import queue

import qt
import slicer
from slicer.i18n import tr as _

from .gui_wait import GuiCalls, run_keeping_gui_alive
from .model_panel import fill_model_combo, remember_model_folder

__all__ = ["PanelActionsMixin"]

class PanelActionsMixin:
    """Import model zip, Use model folder, Open models folder and Copy diagnostics."""

    def _selectModel(self, spec: str) -> None:
        """Select a model (a folder also goes to the recent folders) and show its card."""
        remember_model_folder(spec)
        fill_model_combo(self.ui, self.logic, spec)
        self._onModelOrDeviceChanged()
        for text in self.logic.drainLog():
            self._log(text)

    def onImportModelZip(self) -> None:
        path = qt.QFileDialog.getOpenFileName(self.parent, _("Import model zip"), "", _("Model zip (*.zip)"))
        if path:
            self.importModelZip(path)

    def importModelZip(self, path: str) -> None:
        """Install a model zip into the models folder and select it; asks before replacing an installed copy.

        The import runs in a worker thread while the panel keeps answering: when it waits for another
        import of the same model (another Slicer, ``sdseg models import``), the status line and log
        say which one (its process, zip and start time) until it has finished.
        """
        if getattr(self, "_importing", False):  # a click while the panel answers during an import
            self._log(_("A model zip import is already running; wait for it to finish."))
            return
        waits: "queue.Queue[str]" = queue.Queue()
        calls = GuiCalls()
        ask = calls.wrap(lambda question: slicer.util.confirmOkCancelDisplay(question, "SDSeg"))  # dialogs: GUI thread

        def pump() -> None:
            qt.QApplication.processEvents()
            while not waits.empty():
                self.ui.etaLabel.text = str(waits.get_nowait())
            for text in self.logic.drainLog():
                self._log(str(text))

        self._importing, status, button = True, self.ui.etaLabel.text, self.ui.importModelZipButton
        button.enabled = False
        try:
            with self._errorsShown(_("The model zip was not imported.")):
                spec = run_keeping_gui_alive(lambda: self.logic.importModelZip(path, confirmReplace=ask, onWait=waits.put),
                                             pump, calls)
                self.ui.etaLabel.text = status
                self._selectModel(spec)
        finally:
            self._importing = False
            button.enabled = True

    def onUseModelFolder(self) -> None:
        path = qt.QFileDialog.getExistingDirectory(self.parent, _("Choose a model folder"), str(self.logic.modelsFolder()))
        if path:
            self.useModelFolder(path)

    def useModelFolder(self, path: str) -> None:
        """Verify a model folder (config, card, weight checksums), add it to the list and select it."""
        with self._errorsShown(_("This folder is not a usable SDSeg model.")):
            self._selectModel(self.logic.useModelFolder(path))

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
