"""Follow one node's ModifiedEvent at a time (the panel's selected ROI), swapping it when the selection changes.

Moving or resizing an ROI changes the ROI node, not the parameter node that references it, so the
panel observes the selected ROI itself to refresh the slice label and the time estimate.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import vtk

__all__ = ["ModifiedObserver"]


class ModifiedObserver:
    """Calls ``callback(caller, event)`` on the ``ModifiedEvent`` of the node given to :meth:`follow`.

    Args:
        callback: what to call when the followed node is modified (e.g. the widget's state update).
    """

    def __init__(self, callback: Callable[..., Any]) -> None:
        self._callback = callback
        self._node: Optional[Any] = None
        self._tag: Optional[int] = None

    @property
    def node(self) -> Optional[Any]:
        """The node observed now (None when none)."""
        return self._node

    def follow(self, node: Optional[Any]) -> None:
        """Observe ``node`` instead of the current one (None: observe nothing); the same node is kept."""
        if node is self._node:
            return
        self.stop()
        if node is not None:
            self._tag = node.AddObserver(vtk.vtkCommand.ModifiedEvent, self._callback)
            self._node = node

    def stop(self) -> None:
        """Remove the observer (module cleanup, scene close, no ROI selected)."""
        if self._node is not None:
            self._node.RemoveObserver(self._tag)
        self._node, self._tag = None, None
