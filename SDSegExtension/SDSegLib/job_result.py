"""Write a finished run's result into the scene (needs Slicer): :class:`JobResultMixin`, a base of ``SDSegModuleLogic``.

Split out of ``module_logic.py`` (one job: a job's arrays -> segmentation node and map volumes).
:meth:`JobResultMixin.applyResult` is what the widget calls when a job ends ``done`` and what the
blocking ``SDSegModuleLogic.process`` returns through. The host class provides ``_remoteCards``
(remote engine URL -> its model card), ``modelCard(model)`` and ``_enqueue(text)`` (the logic's log).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from SDSegLogic.errors import SDSegError

from .engine_runner import SegmentationJob
from .input_guard import check_input_unchanged
from .remote_card import card_from_info
from .segmentation_writer import check_output_volumes, show_segmentation, write_result
from .sequence_run import SequenceRun
from .time_point import show_time_point
from .volume_adapter import slicing_axis, update_volume_node_from_array

__all__ = ["JobResultMixin"]


class JobResultMixin:
    """:meth:`applyResult` and :meth:`checkOutputVolumes` of ``SDSegModuleLogic``."""

    checkOutputVolumes = staticmethod(check_output_volumes)  # refuses the input as a map's volume (it would be overwritten)

    def applyResult(self, job: SegmentationJob, inputVolume: Any, outputSegmentation: Any = None,
                    probabilityVolume: Any = None, uncertaintyVolume: Any = None) -> Any:
        """Write a finished job's result into the scene (GUI thread); returns the segmentation node.

        ``outputSegmentation`` None creates a new node. A chosen node made for another grid is
        refused (InputError); after a slice-range/ROI run only those slices of its segments change,
        and of the probability/uncertainty volumes when they already hold a map on the input's grid
        (otherwise they are replaced, 0 outside the slices). The engine's quality warnings are
        logged, stored on the node (``SDSeg.Warnings``) and in ``job.result_warnings``. An input whose voxel
        grid changed since :meth:`startJob` is refused (InputError); changed voxel values add a warning.
        A sequence's volume scrolled to another time point meanwhile is first set back to the time
        point segmented (playback stopped; :mod:`SDSegLib.time_point`), so the result goes there.
        """
        if isinstance(job, SequenceRun):  # all time points: the segmentation sequence, browsed in outputSegmentation
            return job.commit(outputSegmentation)
        output = job.output
        if output is None:  # e.g. a script's applyResult right after startJob, before the job ended
            why = (f"it ended without one ({job.error})" if job.error is not None else "it failed or was cancelled"
                   ) if job.finished else "it is still running: call job.wait() first (or poll it until it ends)"
            raise SDSegError(f"the job has no result to write: {why}.")
        point = job.timePoint  # the input's time point segmented, when it is a sequence's volume
        moved = show_time_point(point) if point is not None and point.volume.GetID() == inputVolume.GetID() else ""
        if moved:  # time scrolled (or played) meanwhile: the segmented time point is shown again first
            self._enqueue(moved)
        changed = check_input_unchanged(inputVolume, job.image, job.geometry)  # modified by another module meanwhile
        self.checkOutputVolumes(inputVolume, probabilityVolume, uncertaintyVolume if output.variance is not None else None)
        engine_card = card_from_info(job.info)  # a model_card that is no object: protocol_error
        card = engine_card or self.modelCard(job.model)
        if job.remote_url.strip() and engine_card:  # the panel counts the next range along its axis
            self._remoteCards[job.remote_url.strip()] = dict(card)
        options = output.header.get("options", {})
        tags = {"Seed": options.get("seed"), "Steps": options.get("num_inference_steps"), "Samples": options.get("num_samples")}
        region, mismatch = None, []
        if options.get("slices"):
            axis = slicing_axis(output.geometry, str(card.get("orientation") or "LPS"))
            region = (axis, int(options["slices"][0]), int(options["slices"][1]))
            tags["Slices"] = f"{'ijk'[axis]} {region[1]}..{region[2] - 1}"
            counted = job.sliceAxis  # None: not known
            if counted is not None and axis != counted:  # e.g. the remote engine restarted with another model meanwhile
                mismatch.append(f"the slice range was counted along the volume's {'ijk'[counted]} axis, but "
                                f"the engine's model cuts across its {'ijk'[axis]} axis: other slices than the ones "
                                "chosen were segmented. Check the result, or segment every slice.")
        job.result_warnings = [*output.warnings, *mismatch, *([changed] if changed else [])]
        for warning in job.result_warnings:
            logging.warning("SDSeg: %s", warning)
        # the writer adds the notes on segments it kept (a person's work, names taken): computed there, once
        segmentation, warnings = write_result(output.labels, card, inputVolume, outputSegmentation, tags=tags, region=region,
                                              warnings=job.result_warnings)
        for warning in warnings[len(job.result_warnings):]:
            logging.warning("SDSeg: %s", warning)
        job.result_warnings = warnings
        show_segmentation(segmentation)  # a script-made output has no display node: Slicer would draw nothing
        for node, array in ((probabilityVolume, output.probabilities), (uncertaintyVolume, output.variance)):
            if node is not None and array is not None:
                # multi-class (C, K, J, I): foreground probability = 1 - P(background); variance: summed over classes (as in the CLI)
                volume = array if array.ndim == 3 else (1.0 - array[0] if array is output.probabilities else array.sum(axis=0))
                # a slice-range/ROI run writes only its slices into a map already made for this grid
                update_volume_node_from_array(node, np.ascontiguousarray(volume, dtype=np.float32), output.geometry, region)
                node.SetAndObserveTransformNodeID(inputVolume.GetTransformNodeID())
                node.CreateDefaultDisplayNodes()
        return segmentation
