"""PythonQt and the parameter-node wrapper, as the fake ``slicer`` (``fake_slicer.py``) provides them.

* :class:`PythonQtObject`: PythonQt's attribute access to Qt properties around a PySide6 widget
  (``button.enabled = False``), and :func:`child_widget_variables` (``slicer.util.childWidgetVariables``);
* :func:`parameter_node_wrapper`: ``slicer.parameterNodeWrapper`` (typed fields with defaults, a
  ``ModifiedEvent`` on every change, ``connectGui`` in both directions);
* :func:`qt_module`: PythonQt's ``qt`` module (PySide6's classes, a private ``QSettings`` file and
  a ``QDesktopServices`` that records the URLs it is asked to open).

Split from ``fake_slicer.py``, which re-exports these names.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import types
import weakref
from typing import Any, Callable, Optional

import vtk


# ---------------------------------------------------------------------- PythonQt-style widgets
class PythonQtObject:
    """PythonQt's view of a QObject: Qt properties are read and written as attributes.

    Writing a name that is not a Qt property raises, so a typo in SDSeg.py fails the test
    instead of silently setting a Python attribute.
    """

    __slots__ = ("_qobject",)

    def __init__(self, qobject) -> None:
        object.__setattr__(self, "_qobject", qobject)

    @property
    def qobject(self):
        return object.__getattribute__(self, "_qobject")

    def __getattr__(self, name: str) -> Any:
        obj = object.__getattribute__(self, "_qobject")
        if obj.metaObject().indexOfProperty(name) >= 0:
            return obj.property(name)
        return getattr(obj, name)

    def __setattr__(self, name: str, value: Any) -> None:
        obj = object.__getattribute__(self, "_qobject")
        if obj.metaObject().indexOfProperty(name) < 0 or not obj.setProperty(name, value):
            raise AttributeError(f"{type(obj).__name__} {obj.objectName()!r} has no writable Qt property {name!r}")


def child_widget_variables(widget) -> types.SimpleNamespace:
    """``slicer.util.childWidgetVariables``: every named child, PythonQt-style."""
    from PySide6.QtWidgets import QWidget

    children = {w.objectName(): PythonQtObject(w) for w in widget.findChildren(QWidget) if w.objectName()}
    return types.SimpleNamespace(**children)


# ---------------------------------------------------------------------- parameter node wrapper
def parameter_node_wrapper(cls: type) -> type:
    """``slicer.parameterNodeWrapper``: the annotated fields of ``cls`` stored on a scripted-module node."""
    defaults = {name: getattr(cls, name, None) for name in cls.__annotations__}

    class Wrapped:
        __doc__ = cls.__doc__
        _defaults = defaults

        def __init__(self, node: Any) -> None:
            object.__setattr__(self, "parameterNode", node)
            for name, value in defaults.items():
                node.values.setdefault(name, value)

        def __getattr__(self, name: str) -> Any:
            if name in defaults:
                return object.__getattribute__(self, "parameterNode").values[name]
            raise AttributeError(name)

        def __setattr__(self, name: str, value: Any) -> None:
            if name not in defaults:
                raise AttributeError(f"{cls.__name__} has no parameter {name!r}")
            node = self.parameterNode
            if node.values[name] is not value and node.values[name] != value:
                node.values[name] = value
                node.Modified()

        def AddObserver(self, event: Any, callback: Callable, priority: float = 0.0) -> int:
            return self.parameterNode.AddObserver(event, callback)

        def RemoveObserver(self, tag: int) -> None:
            self.parameterNode.RemoveObserver(tag)

        def connectGui(self, ui: types.SimpleNamespace) -> list:
            return _connect_gui(self, ui)

        def disconnectGui(self, tag: Optional[list]) -> None:
            for disconnect in tag or []:
                disconnect()

    Wrapped.__name__ = Wrapped.__qualname__ = cls.__name__
    return Wrapped


def _connect_gui(wrapper: Any, ui: types.SimpleNamespace) -> list:
    """Two-way binding of every widget that names a parameter; returns the disconnect callbacks."""
    from PySide6.QtWidgets import QCheckBox

    bindings = []
    for proxy in vars(ui).values():
        widget = proxy.qobject
        name = widget.property("SlicerParameterName")
        if not name:
            continue
        if hasattr(widget, "setCurrentNode"):
            bindings.append((widget, name, widget.currentNodeChanged, widget.setCurrentNode, widget.currentNode))
        elif type(widget) is QCheckBox:  # Slicer's QCheckBoxToBoolConnector: exactly QCheckBox, stateChanged
            bindings.append((widget, name, widget.stateChanged, widget.setChecked, widget.isChecked))
        else:
            bindings.append((widget, name, widget.valueChanged, widget.setValue, widget.value))

    def to_gui(*_args: Any) -> None:
        for widget, name, _signal, setter, _reader in bindings:
            blocked = widget.blockSignals(True)
            setter(getattr(wrapper, name))
            widget.blockSignals(blocked)

    disconnects = []
    for widget, name, signal, _setter, reader in bindings:
        slot = (lambda *_args, n=name, read=reader: setattr(wrapper, n, read()))
        signal.connect(slot)
        disconnects.append(lambda s=signal, f=slot: s.disconnect(f))
    to_gui()
    tag = wrapper.AddObserver(vtk.vtkCommand.ModifiedEvent, to_gui)
    return disconnects + [lambda: wrapper.RemoveObserver(tag)]


def qt_module(fake: Any) -> types.ModuleType:
    """PythonQt's ``qt``: PySide6 classes, a private settings file and a recording QDesktopServices."""
    from PySide6 import QtCore, QtWidgets

    folder = tempfile.mkdtemp(prefix="fake-slicer-settings-")
    weakref.finalize(fake, shutil.rmtree, folder, True)
    settings_file = os.path.join(folder, "Slicer.ini")

    class QSettings(QtCore.QSettings):
        """Slicer's application settings, in this fake's own ini file (never the user's)."""

        def __init__(self) -> None:
            super().__init__(settings_file, QtCore.QSettings.IniFormat)

    class QDesktopServices:
        """Records the URL instead of opening a file browser."""

        @staticmethod
        def openUrl(url: Any) -> bool:
            fake.opened_urls.append(url.toLocalFile() if url.isLocalFile() else url.toString())
            return True

    qt = types.ModuleType("qt")
    qt.QTimer, qt.QUrl, qt.Qt, qt.QSettings = QtCore.QTimer, QtCore.QUrl, QtCore.Qt, QSettings
    qt.QApplication, qt.QFileDialog, qt.QDesktopServices = QtWidgets.QApplication, QtWidgets.QFileDialog, QDesktopServices
    return qt
