"""Identify a file's format from its content and check it against its extension.

Every reader goes through :func:`detect_format` first, so an empty file, a missing file or a file
whose extension does not match its content is rejected with an :class:`InputError` before any
third-party reader sees it.
"""

from __future__ import annotations

import gzip
import re
import struct
import zlib
from pathlib import Path
from typing import Optional

from ..errors import InputError

__all__ = ["detect_format", "format_from_extension", "is_picture", "sniff_content", "FORMATS", "PICTURE_FORMATS"]

#: format name -> file name endings (lower case) that announce it
FORMATS = {
    "nrrd": (".seg.nrrd", ".nrrd", ".nhdr"),
    "nifti": (".nii.gz", ".nii"),
    "metaimage": (".mha", ".mhd"),
    "dicom": (".dcm", ".dicom", ".ima"),
    "png": (".png",),
    "jpeg": (".jpg", ".jpeg"),
    "tiff": (".tif", ".tiff"),
    "bmp": (".bmp",),
}
_SUPPORTED = ", ".join(e for ends in FORMATS.values() for e in ends if e != ".seg.nrrd")
#: formats that store no position, spacing or direction: every picture reads at the origin with 1 mm pixels
PICTURE_FORMATS = ("png", "jpeg", "tiff", "bmp")


def format_from_extension(path: Path) -> Optional[str]:
    """Format announced by the file name (``None`` if the ending is unknown or absent)."""
    name = path.name.lower()
    for fmt, endings in FORMATS.items():
        if any(name.endswith(e) for e in endings):
            return fmt
    return None


def _nifti_sizeof_hdr(head: bytes) -> bool:
    if len(head) < 348:
        return False
    return struct.unpack("<i", head[:4])[0] in (348, 540) or struct.unpack(">i", head[:4])[0] in (348, 540)


#: a MetaIO header line: ``Name = value`` (MetaIO reads the fields in any order)
_META_LINE = re.compile(rb"[ \t]*[A-Za-z][A-Za-z0-9_]*[ \t]*=[^\r\n]*\r?\n")
_META_DIMS = re.compile(rb"^[ \t]*(?:NDims|DimSize)[ \t]*=", re.MULTILINE)


def _metaimage_fields(head: bytes) -> bool:
    """Whether ``head`` is a MetaImage header opening with a less usual field (``BinaryData = True``, ...).

    True when it starts with at least two ``Name = value`` lines, one of them NDims or DimSize.
    """
    lines = head.lstrip()
    position, count = 0, 0
    while count < 64:
        match = _META_LINE.match(lines, position)
        if match is None:
            break
        position, count = match.end(), count + 1
    return count >= 2 and _META_DIMS.search(lines[:position]) is not None


#: the value representations of DICOM, as an explicit-VR data element spells them after its tag
_DICOM_VRS = frozenset(b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR "
                       b"US UT UV".split())


def _dicom_without_preamble(head: bytes) -> bool:
    """A DICOM data set stored without the 128-byte preamble and ``DICM`` marker of a Part 10 file (older or
    non-conformant exports, which GDCM, and so SimpleITK and 3D Slicer, read all the same).

    It opens with a little-endian element of group 0x0002 (file meta) or 0x0008 (identification), followed by
    its VR (explicit VR) or by a short even 4-byte length (implicit VR).
    """
    if len(head) < 8:
        return False
    group, element = struct.unpack("<HH", head[:4])
    if group not in (0x0002, 0x0008) or element >= 0x0100:
        return False
    length = struct.unpack("<I", head[4:8])[0]
    return head[4:6] in _DICOM_VRS or (length < 0x100 and length % 2 == 0)


def sniff_content(head: bytes) -> Optional[str]:
    """Format recognised from the first bytes of a file (gzip is reported as ``"gzip"``)."""
    if head.startswith(b"NRRD000"):
        return "nrrd"
    if head[:2] == b"\x1f\x8b":
        return "gzip"
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "dicom"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head[:4] in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):  # classic TIFF and BigTIFF
        return "tiff"
    if head.startswith(b"BM"):
        return "bmp"
    text = head[:200].lstrip()
    if text.startswith((b"ObjectType", b"NDims", b"Comment", b"ElementType", b"DimSize")) or _metaimage_fields(head):
        return "metaimage"
    if _nifti_sizeof_hdr(head) and head[344:347] in (b"n+1", b"ni1"):
        return "nifti"
    if _nifti_sizeof_hdr(head) and head[4:7] in (b"n+2", b"ni2"):  # NIfTI-2 keeps its magic at byte 4
        return "nifti2"
    if _dicom_without_preamble(head):
        return "dicom"
    return None


def _gunzip_head(path: Path, n: int = 352) -> bytes:
    try:
        with gzip.open(path, "rb") as fh:
            return fh.read(n)
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"{path}: the gzip stream is corrupt or truncated ({exc}); re-export the file.") from None


def detect_format(path: Path) -> str:
    """Return the format of ``path`` after checking existence, size and content against extension.

    Args:
        path: a file or a folder (a folder is a DICOM series).

    Returns:
        One of the keys of :data:`FORMATS`.

    Raises:
        InputError: missing or empty file, unknown ending, or content that contradicts the ending.
    """
    if not path.exists():
        raise InputError(f"{path}: no such file or folder; check the path.")
    if path.is_dir():
        return "dicom"
    size = path.stat().st_size
    if size == 0:
        raise InputError(f"{path}: the file is empty (0 bytes); the copy or export failed, produce it again.")
    with open(path, "rb") as fh:
        head = fh.read(512)
    content = sniff_content(head)
    if content == "gzip":
        inner = sniff_content(_gunzip_head(path))
        if inner == "nifti" and not path.name.lower().endswith(".gz"):
            raise InputError(f"{path}: the content is gzip-compressed NIfTI but the name does not end in .gz; "
                             "rename it to .nii.gz.")
        content = inner if inner in ("nifti", "nifti2") else "gzip"
    if content == "nifti2":
        raise InputError(f"{path}: a NIfTI-2 file, which this reader (SimpleITK) cannot read; save the image as "
                         "NIfTI-1 (.nii.gz), NRRD or MetaImage (3D Slicer, ITK-SNAP and nibabel all can), then retry.")
    declared = format_from_extension(path)
    if declared is None:
        if content == "dicom":  # GDCM reads by content: IM0001, or a PACS export named by its UID (1.2.840....)
            return "dicom"
        hint = f"; its content looks like {content}, rename it accordingly" if content else ""
        raise InputError(f"{path}: unsupported file type {path.suffix or '(no extension)'!r}{hint}. "
                         f"Supported: {_SUPPORTED} or a DICOM folder.")
    if declared == "metaimage" and path.name.lower().endswith(".mhd") and content is None:
        content = "metaimage"
    if content != declared:
        raise InputError(
            f"{path}: the extension says {declared} but the content is {content or 'not a recognised image format'}; "
            "rename the file to match its content, or re-export it."
        )
    return declared


def is_picture(path: Path) -> bool:
    """True when ``path`` is a picture file (:data:`PICTURE_FORMATS`), by its content as :func:`detect_format` tells it.

    A file that no longer sniffs (removed or rewritten since it was read) is no picture here, never an error.
    """
    try:
        return path.is_file() and detect_format(path) in PICTURE_FORMATS
    except (InputError, OSError):
        return False
