"""A cancel request (SIGTERM, one Ctrl-C, ``should_cancel``) lands within one network call, not at the next batch.

The volume pipeline used to check ``should_cancel`` only between batches, and the CLI's flag only
then: one batch with many ``--samples`` or ``--steps`` (every sample and DDIM step is one UNet call)
ran to its end after SIGTERM. The pipeline now checks the request before each network call; the
run ends as cancelled (exit code 5) with no output and no temporary file written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from cli_segment_fixtures import crop, isolated_home, tiny_folder  # noqa: F401 (fixtures)
from engine_test_helpers import ramp_volume, tiny_cpu_pipelines

from SDSegLogic.errors import CancelledError
from SDSegLogic.segment import segment_array

REPO = Path(__file__).resolve().parents[2]
EXIT_CANCELLED = 5


@pytest.fixture(scope="module")
def pipes():
    return tiny_cpu_pipelines()


class _CancelAfter:
    """``should_cancel`` that asks for cancelling from its ``n``-th call on; counts its calls."""

    def __init__(self, n: int) -> None:
        self.n, self.calls = n, 0

    def __call__(self) -> bool:
        self.calls += 1
        return self.calls >= self.n


@pytest.mark.parametrize("kind", ["binary", "multi"])
@pytest.mark.parametrize("samples, steps", [(6, 1), (1, 6)])
@pytest.mark.parametrize("device_postprocess", [False, True])  # True: the CUDA path (predict_native), on the CPU
def test_a_cancel_inside_the_only_batch_stops_it(pipes, kind, samples, steps, device_postprocess):
    array, geometry = ramp_volume()
    flag = _CancelAfter(2)  # the check before the batch says no; the next one (inside the batch) says yes
    with pytest.raises(CancelledError, match=r"vol\.nrrd: cancelled after 0 of 3 slices; nothing was written"):
        segment_array(array, geometry, pipes[kind], batch_size=8, num_samples=samples, num_inference_steps=steps,
                      should_cancel=flag, source="vol.nrrd", device_postprocess=device_postprocess)
    assert flag.calls == 2, "the pipeline went on after the request"


def test_a_cancel_flag_that_never_fires_changes_nothing(pipes):
    array, geometry = ramp_volume()
    flag = _CancelAfter(10**9)
    plain = segment_array(array, geometry, pipes["multi"], batch_size=2, num_samples=3, num_inference_steps=2)
    checked = segment_array(array, geometry, pipes["multi"], batch_size=2, num_samples=3, num_inference_steps=2,
                            should_cancel=flag)
    assert np.array_equal(plain.labels, checked.labels)
    assert np.array_equal(plain.probabilities, checked.probabilities)
    assert np.array_equal(plain.variance, checked.variance)
    assert flag.calls > 2  # one check per batch (2 batches) and more inside them


# The signal is raised at the first UNet call (a profile hook sees predict_noise start); the hook counts the
# UNet calls that start after it and prints the count when the process exits.
CHILD = """
import atexit, signal, sys
sig = getattr(signal, sys.argv[1])
state = {"sent": False, "after": 0}
def hook(frame, event, arg):
    if event == "call" and frame.f_code.co_name == "predict_noise":
        if state["sent"]:
            state["after"] += 1
        else:
            state["sent"] = True
            signal.raise_signal(sig)
atexit.register(lambda: print(f"UNET_CALLS_AFTER_SIGNAL={state['after']}", file=sys.stderr))
sys.setprofile(hook)
from SDSegLogic.cli import main
sys.exit(main(sys.argv[2:]))
"""


@pytest.mark.skipif(os.name != "posix", reason="SIGINT and SIGTERM as on POSIX systems")
@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_a_signal_during_many_samples_and_steps_cancels_within_one_network_call(tiny_folder, crop, tmp_path, signame):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "earlier.txt").write_text("kept")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "SDSEG_HOME": str(tmp_path / "home")}
    samples, steps = 8, 5  # one batch (4 slices) of 40 UNet calls
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, signame, "segment", str(crop), "-o", str(folder / "crop.seg.nrrd"),
         "--prob-map", str(folder / "crop.prob.nrrd"), "--uncertainty", str(folder / "crop.var.nrrd"),
         "--samples", str(samples), "--steps", str(steps), "--model", str(tiny_folder), "--device", "cpu",
         "--batch-size", "8"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == EXIT_CANCELLED, (proc.returncode, proc.stderr)
    after = [line for line in proc.stderr.splitlines() if line.startswith("UNET_CALLS_AFTER_SIGNAL=")]
    assert after, proc.stderr
    assert int(after[-1].split("=")[1]) <= 1, f"{after[-1]} of {samples * steps}: the batch ran on after the signal"
    assert "cancelled after 0 of 4 slices" in proc.stderr, proc.stderr
    assert sorted(p.name for p in folder.iterdir()) == ["earlier.txt"], "an output or temporary file was written"
    assert "Traceback" not in proc.stderr
