"""Running out of memory on the CPU is a resource error (exit code 7), as documented, not a bug (exit code 1).

PyTorch's CPU allocator reports an allocation it cannot make as a plain ``RuntimeError``
("DefaultCPUAllocator: can't allocate memory: you tried to allocate ... bytes"). ``sdseg segment`` used
to report it as "RuntimeError: ... (unexpected; rerun with --debug and report the traceback)" with exit
code 1, although the epilog promises 7 for "out of memory" and the remedy is a smaller --batch-size.
The error here is real: PyTorch is asked for an exabyte.
"""

from __future__ import annotations

import pytest
import torch
from cli_segment_fixtures import crop, events, isolated_home, tiny_folder  # noqa: F401 (fixtures)
from cli_test_helpers import FailsOnConstantSlices

from SDSegLogic.cli import EXIT_RESOURCE, EXIT_UNEXPECTED, build_parser, describe_error, exit_code_for
from SDSegLogic.cli_segment import run_segment

sitk = pytest.importorskip("SimpleITK")


def _cpu_allocation_failure() -> RuntimeError:
    try:
        torch.empty(2**60, dtype=torch.uint8)  # 1 EiB: refused at once, nothing is allocated
    except RuntimeError as exc:
        return exc
    pytest.skip("this machine allocated 1 EiB")


def test_a_cpu_allocation_failure_is_exit_code_7_with_a_cpu_remedy():
    error = _cpu_allocation_failure()
    assert exit_code_for(error) == EXIT_RESOURCE
    text = describe_error(error)
    assert "out of memory" in text and "--batch-size" in text
    assert "--device cpu" not in text and "unexpected" not in text  # it already ran on the CPU; not a bug


def test_other_runtime_errors_stay_unexpected():
    assert exit_code_for(RuntimeError("CUDA error: illegal memory access")) == EXIT_UNEXPECTED


def test_sdseg_segment_ends_with_exit_code_7_when_the_cpu_runs_out_of_memory(tiny_folder, crop, tmp_path, capsys):
    from SDSegLogic.pipeline import SDSegPipeline

    blank = tmp_path / "blank.nrrd"  # constant slices: the wrapped model raises the allocation failure for them
    volume = sitk.ReadImage(str(crop))
    constant = sitk.Image(volume.GetSize(), volume.GetPixelID()) - 1000
    constant.CopyInformation(volume)
    sitk.WriteImage(constant, str(blank))
    args = build_parser().parse_args([str(a) for a in ["segment", blank, "-o", tmp_path / "o.seg.nrrd", "--model",
                                                       tiny_folder, "--json"]])
    error = _cpu_allocation_failure()
    code = run_segment(args, loader=lambda folder, device: FailsOnConstantSlices(
        SDSegPipeline.from_pretrained(folder, device=device), error))
    stream = events(capsys.readouterr().out)
    failure = next(e for e in stream if e["event"] == "error")
    assert code == EXIT_RESOURCE and failure["exit_code"] == EXIT_RESOURCE
    assert "--batch-size" in failure["message"]
    assert not (tmp_path / "o.seg.nrrd").exists()
