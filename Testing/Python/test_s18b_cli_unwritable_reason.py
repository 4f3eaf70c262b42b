"""An output that cannot be written is refused with the real reason, not the operating system's bare error.

``sdseg segment -o /proc/x.seg.nrrd`` said "the folder /proc is not writable (No such file or
directory)": /proc exists, and the error text comes from the kernel refusing to create a file on
a virtual file system. The message now says that the folder is on a special (virtual) file system
that cannot hold files; a file or a device where a folder is needed is named as such.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_segment_fixtures import crop, isolated_home, run  # noqa: F401 (fixtures)

EXIT_OUTPUT = 6


def _is_virtual(folder: str) -> bool:
    try:
        return os.statvfs(folder).f_blocks == 0
    except (AttributeError, OSError):
        return False


@pytest.mark.skipif(not _is_virtual("/proc"), reason="needs a Linux /proc file system")
@pytest.mark.parametrize("target", ["/proc/x.seg.nrrd", "/proc/new-folder/x.seg.nrrd"])
def test_an_output_on_proc_names_the_virtual_file_system(crop, tmp_path, capsys, target):
    code, _, err = run(["segment", crop, "-o", target, "--model", tmp_path / "no-such-model"], capsys)
    assert code == EXIT_OUTPUT, err
    assert "No such file or directory" not in err, err
    assert "special (virtual) file system" in err and "/proc" in err, err
    assert "choose another output folder" in err


def test_a_file_where_the_folder_should_be_is_named_a_file(crop, tmp_path, capsys):
    blocker = tmp_path / "results"
    blocker.write_text("a file")
    code, _, err = run(["segment", crop, "-o", blocker / "x.seg.nrrd", "--model", tmp_path / "no-such-model"], capsys)
    assert code == EXIT_OUTPUT, err
    assert f"{blocker} is a file, not a folder" in err, err


@pytest.mark.skipif(not Path("/dev/null").exists() or os.name != "posix", reason="needs /dev/null")
def test_a_device_where_the_folder_should_be_is_not_called_a_file(crop, tmp_path, capsys):
    code, _, err = run(["segment", crop, "-o", "/dev/null/x.seg.nrrd", "--model", tmp_path / "no-such-model"], capsys)
    assert code == EXIT_OUTPUT, err
    assert "/dev/null is a device or another special file, not a folder" in err, err
