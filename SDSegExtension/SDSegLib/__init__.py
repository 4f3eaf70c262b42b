"""Slicer-side helpers of the SDSeg module (imported by ``SDSeg.py``).

* ``volume_adapter``: volume node <-> (array, ImageGeometry in LPS)
* ``segmentation_writer``: engine labels -> segmentation node (names, colours, terminology)
* ``output_checks``: refuses an output that cannot take the result (the input as a map's volume,
  a segmentation of another grid or stored as surfaces), before a run and before writing
* ``segment_names``: SDSeg's segment named apart from another segment of a class's name, and an
  earlier run's segment of a class found again under the class-name rule (no Slicer)
* ``card_classes``: an engine's card classes (names, label values, colours, terminology) checked
  before any segment is written (no Slicer)
* ``engine_runner``: non-blocking segmentation jobs on an engine (no Qt)
* ``engine_manager``: the local engine process: started, reused while model, device and files are the
  same, restarted otherwise (no Qt)
* ``run_options``: the scripting arguments (device, steps, samples, seed, batch size, slices) checked
  before any engine starts (no Slicer)
* ``busy_wait``: a job waits for an engine busy with another run instead of failing (no Qt)
* ``cancel_deadline``: a cancel the engine does not confirm in time ends the job anyway (no Qt)
* ``gui_wait``: blocking work (a model zip import waiting for another) in a worker thread while the
  GUI keeps answering (no Qt)
* ``import_cancel``: a model zip import's wait for another import of the same model, made
  cancellable (Cancel import, closing the module) (no Qt)
* ``input_guard``: refuses a result whose input's voxel grid changed during the run, warns when
  its voxel values did (no Slicer)
* ``install``: dependency installation (asks once, PyTorchUtils for torch)
* ``parameter_node``: the module's ``@parameterNodeWrapper`` (needs Slicer)
* ``sample_data``: registers the bundled CT and fundus samples with Sample Data (needs Slicer)
* ``model_library``: the model list (registry, models folder, recent folders) and the import /
  use-folder actions (no Slicer)
* ``model_catalog``: the logic's model side (list, import, model cards read again when their file
  changed, the card label of the copy a local engine would load) (no Slicer)
* ``model_panel``, ``panel_actions``: the model combo box, recent folders in the settings and
  the model-management / Copy diagnostics buttons' slots (need Slicer's ``qt``)
* ``diagnostics``: the engine-log part of an error and the Copy diagnostics text, remote URLs
  without their secrets (no Slicer)
* ``panel_state``: what the panel shows (Segment button, disabled options, slices, estimate)
* ``job_result``: a finished job's result written into its output nodes, and the outputs checked
  again just before (needs Slicer)
* ``job_end``: how a run ends in the panel: cancel, reset, the status line, the result written
  (needs Slicer)
* ``node_observer``: follows the selected ROI's ModifiedEvent (no Slicer; VTK-style observers)
* ``sequence_input``, ``sequence_run``, ``sequence_writer``: all time points of a sequence's
  volume (4D, cine): find the sequence, one job per time point, the segmentation sequence added
  to the browser only when complete (need Slicer)
* ``time_point``: the time point a single-volume run on a sequence's volume segments, shown again
  before its result is written (needs Slicer)
* ``input_modality``: the input's DICOM modality (or "photo") for the engine's check (needs Slicer)
* ``remote_card``: a remote engine's model card (its ``info`` reply), whose orientation decides the
  axis a slice range counts along, asked in the run's worker thread; a range is refused when it
  names none (no Slicer)
* ``progress_guard``: an engine's ``progress`` frame made safe to show (counts clamped, a bad time
  left unknown; logged once) (no Slicer)

Only the modules that need ``slicer`` import it, and only inside functions, so the others are
tested with plain pytest (``Testing/Python/test_slicer_*.py``).
"""

from __future__ import annotations
