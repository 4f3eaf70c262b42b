"""Check that a NIfTI file ITK has just written is whole: ITK does not report a failed write of NIfTI voxels.

The NIfTI library under ITK's NiftiImageIO prints ``** ERROR: NWAD: wrote only N of M bytes`` to stderr when the disk
is full, a quota or a file size limit (``RLIMIT_FSIZE``) is reached, and returns as if it had written the file:
``SimpleITK.WriteImage`` raises nothing, and the truncated file would be renamed into place as the output (a reader
then gets zeros, or an error, for the voxels that never reached the disk). MetaImage and NRRD writes raise instead.
"""

from __future__ import annotations

import errno
import struct
from pathlib import Path

from ._deflate import gzip_open, stream_errors

__all__ = ["check_nifti_written"]


def check_nifti_written(temp: Path, voxel_bytes: int, destination: Path) -> None:
    """Raise ``OSError`` unless ``temp`` holds a whole NIfTI-1 file: the header, then ``voxel_bytes`` of voxels.

    Args:
        temp: the file ITK wrote (``.nii``, or a ``.nii.gz`` whose gzip stream is read to its end and CRC).
        voxel_bytes: bytes of the voxels written (the array's ``nbytes``).
        destination: the output the file is for, named in the error.

    Raises:
        OSError: ``EIO``, saying how far the write got and why it likely stopped; the caller removes ``temp``.
    """
    actual, offset = 0, None
    opener = gzip_open if temp.name.lower().endswith(".gz") else (lambda name: open(name, "rb"))
    try:
        with opener(temp) as fh:
            head = fh.read(348)
            actual = len(head)
            if actual == 348:  # vox_offset, a float at byte 108, in the header's byte order (sizeof_hdr 348)
                endian = "<" if struct.unpack("<i", head[:4])[0] == 348 else ">"
                offset = int(struct.unpack(endian + "f", head[108:112])[0])
            while True:
                chunk = fh.read(1 << 22)
                if not chunk:
                    break
                actual += len(chunk)
    except stream_errors() as exc:  # a gzip stream cut off: no end marker or CRC
        raise OSError(errno.EIO, f"the NIfTI file was written incompletely ({exc}): the disk is full or a file size "
                                 "limit or quota was reached", str(destination)) from None
    expected = (offset if offset is not None and offset >= 348 else 352) + voxel_bytes
    if actual < expected:
        raise OSError(errno.EIO, f"the NIfTI file was written incompletely ({actual:,} of {expected:,} bytes of header "
                                 "and voxels): the disk is full or a file size limit or quota was reached",
                      str(destination))
