"""2-D photos (PNG, JPEG, TIFF, BMP) read with Pillow into (1, H, W[, C]) arrays.

Pixel grid: the one 3D Slicer shows, so that a mask lines up with the picture there. Slicer reads
pictures with ITK, which ignores the EXIF Orientation of JPEG and PNG files (so does Pillow), and
reads a TIFF of Orientation 2-8 through libtiff, which applies only the mirroring of the tag: for 2-4
the image as every viewer shows it, for 5-8 the stored grid mirrored but not turned by 90 degrees.
Pillow turns TIFFs by the tag as it loads them (and garbles gray ones of Orientation 5-8), so a TIFF
is read with its Orientation tags set to 1 and mirrored here as ITK mirrors it. Pillow also turns a TIFF
by an orientation given only in its XMP packet, which libtiff ignores: that value is set to 1 as well.
A picture that photo viewers show otherwise than Slicer draws a warning.
"""

from __future__ import annotations

import io
import re
import struct
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import InputError

__all__ = ["photo_size", "read_photo", "max_photo_pixels"]


#: EXIF/TIFF Orientation -> how a viewer that follows the tag shows the stored picture
_VIEWED = {2: "mirrored left-right", 3: "turned 180 degrees", 4: "mirrored top-bottom",
           5: "mirrored along its main diagonal", 6: "turned 90 degrees clockwise",
           7: "mirrored along its other diagonal", 8: "turned 90 degrees counter-clockwise"}
#: TIFF Orientation -> (mirror rows, mirror columns) of the stored grid, as ITK (libtiff's RGBA reader) lays it out
_ITK_TIFF_FLIPS = {2: (False, True), 3: (True, True), 4: (True, False), 5: (False, False), 6: (False, True),
                   7: (True, True), 8: (True, False)}
_TIFF_ORIENTATION = 274
_TIFF_XMP = 700
_XMP_ORIENTATION = re.compile(rb'tiff:Orientation(="|>)([0-9])')  # as Pillow finds it


def _tiff_orientations(path: Path) -> Tuple[List[int], Dict[int, bytes], List[int]]:
    """The Orientation of each page of a TIFF (1 where absent) and the patches that make them all read as 1.

    Pages are the IFDs of the main chain, which Pillow counts as frames; classic TIFF and BigTIFF.
    Another format gives ``([], {}, [])``; a malformed chain ends the list early (Pillow reports it).
    An orientation given only in the page's XMP packet (tag 700, ``tiff:Orientation``) is patched
    too: Pillow turns the picture by it, libtiff (ITK, 3D Slicer) ignores it.

    Returns:
        ``(orientations, patches, xmp)``: the Orientation tag of each page; byte offset ->
        replacement bytes for each Orientation (tag or XMP) that is not 1; the XMP
        ``tiff:Orientation`` of each page (1 when absent).
    """
    pages: List[Tuple[int, int, str]] = []  # (where the value is, the value, its struct code)
    xmp: List[int] = []
    patches: Dict[int, bytes] = {}
    with open(path, "rb") as fh:
        head = fh.read(16)
        if head[:4] not in (b"II*\0", b"MM\0*", b"II+\0", b"MM\0+"):
            return [], {}, []
        endian = "<" if head[:2] == b"II" else ">"
        big = head[2:4] in (b"+\0", b"\0+")  # BigTIFF: 8-byte counts and offsets, 20-byte entries
        number, size, value_at = ("Q", 20, 12) if big else ("H", 12, 8)
        pointer = endian + ("Q" if big else "I")
        first = 8 if big else 4
        if len(head) < first + struct.calcsize(pointer):
            return [], {}, []
        offset, seen = struct.unpack_from(pointer, head, first)[0], set()
        while offset and offset not in seen and len(seen) < 65536:
            seen.add(offset)
            fh.seek(offset)
            raw = fh.read(struct.calcsize(number))
            if len(raw) < struct.calcsize(number):
                break
            count = struct.unpack(endian + number, raw)[0]
            entries = fh.read(size * count) if count < 65536 else b""
            if len(entries) < size * count:
                break
            found, packet = (0, 1, "H"), None
            for n in range(count):
                tag, kind = struct.unpack_from(endian + "HH", entries, size * n)
                if tag == _TIFF_ORIENTATION and kind in (3, 4):  # SHORT (or LONG, which libtiff and Pillow
                    code = "H" if kind == 3 else "I"  # accept too): the value is kept in the entry
                    where = offset + len(raw) + size * n + value_at
                    found = (where, struct.unpack_from(endian + code, entries, size * n + value_at)[0], code)
                elif tag == _TIFF_XMP and kind in (1, 2, 7):  # BYTE, ASCII, UNDEFINED: one byte per value
                    length = struct.unpack_from(pointer, entries, size * n + 4)[0]
                    inline = length <= value_at - 4
                    packet = (offset + len(raw) + size * n + value_at if inline
                              else struct.unpack_from(pointer, entries, size * n + value_at)[0], length)
            pages.append(found)
            following = fh.read(struct.calcsize(pointer))
            offset = struct.unpack(pointer, following)[0] if len(following) == struct.calcsize(pointer) else 0
            xmp.append(_patch_xmp(fh, packet, patches) if packet is not None else 1)
    patches.update({where: struct.pack(endian + code, 1) for where, value, code in pages if value != 1})
    return [value for _, value, _ in pages], patches, xmp


def _patch_xmp(fh, packet: Tuple[int, int], patches: Dict[int, bytes]) -> int:
    """The first ``tiff:Orientation`` of an XMP packet (``(start, length)`` in ``fh``); every one is patched to 1."""
    start, length = packet
    if length > 1 << 24:
        return 1
    fh.seek(start)
    text = fh.read(length)
    values = []
    for match in _XMP_ORIENTATION.finditer(text):
        values.append(int(match[2]))
        if match[2] != b"1":
            patches[start + match.start(2)] = b"1"
    return values[0] if values else 1


class _PatchedFile(io.RawIOBase):
    """A file read with some bytes replaced: a TIFF whose Orientation values read as 1.

    It has no ``fileno``, so Pillow's libtiff decoder reads through it too.
    """

    def __init__(self, path: Path, patches: Dict[int, bytes]):
        super().__init__()
        self._fh = open(path, "rb")
        self._patches = patches

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._fh.seek(offset, whence)

    def tell(self) -> int:
        return self._fh.tell()

    def readinto(self, buffer) -> int:
        start = self._fh.tell()
        count = self._fh.readinto(buffer)
        view = memoryview(buffer).cast("B")
        for offset, data in self._patches.items():
            for n, byte in enumerate(data):
                if start <= offset + n < start + count:
                    view[offset + n - start] = byte
        return count

    def close(self) -> None:
        self._fh.close()
        super().close()


def _open(path: Path, source: Any = None):
    """Open a picture (header only); refuse one too large for Pillow before any pixel is decoded.

    Args:
        source: a file object to read instead of ``path`` (named in messages as ``path``).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        return Image.open(path if source is None else source)
    except Image.DecompressionBombError:
        raise InputError(_too_large_message(path)) from None
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise InputError(f"{path}: not a readable image ({exc}); re-export the picture.") from None


def max_photo_pixels() -> int:
    """Largest width x height a 2-D picture may have: the limit above which Pillow refuses to decode."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    return 2 * int(limit) if limit else 0


def _header_size(path: Path) -> Optional[Tuple[int, int]]:
    """(width, height) parsed by the Pillow plugin that accepts the file, skipping the size guard."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as fh:
        prefix = fh.read(16)
        for factory, accept in list(Image.OPEN.values()):
            verdict = accept(prefix) if accept is not None else True
            if not verdict or isinstance(verdict, str):
                continue
            fh.seek(0)
            try:
                return tuple(factory(fh, str(path)).size)
            except Exception:  # noqa: BLE001 - any plugin failure just means "not this format"
                continue
    return None


def _too_large_message(path: Path) -> str:
    size = _header_size(path)
    claimed = f"{size[0]:,} x {size[1]:,} pixels ({size[0] * size[1]:,})" if size else "more pixels than allowed"
    return (f"{path}: the picture's header claims {claimed}, more than the limit of {max_photo_pixels():,} pixels "
            "for a 2-D picture (nothing was decoded). Downscale or crop the picture, or save it as a volume "
            "(NRRD/NIfTI); if it should be small, the file is corrupt, re-export it.")


def photo_size(path: Path, frame: Optional[int] = None) -> Tuple[int, int, int, int]:
    """(width, height, bands, frames) from the file header, without decoding pixels.

    ``bands`` counts the values per pixel :func:`read_photo` returns: a palette picture becomes RGB
    (RGBA with transparency), not one value per pixel. Width, height and bands are those of page
    ``frame`` of a multi-page file (the first page when ``frame`` is ``None`` or out of range): the
    pages of a TIFF may differ in size, and the memory check must see the page that is read.
    """
    with _open(path) as img:
        frames = int(getattr(img, "n_frames", 1))
        if frame is not None and 0 < frame < frames:
            try:
                img.seek(frame)  # reads the page's header only
            except (EOFError, OSError, ValueError):
                pass  # read_photo names the broken page
        bands = len(img.getbands())
        if img.mode in ("P", "PA"):
            bands = 4 if img.mode == "PA" or "transparency" in img.info else 3
        return img.size[0], img.size[1], bands, frames


def _drop_opaque_alpha(path: Path, array: np.ndarray) -> np.ndarray:
    """The gray plane of an (H, W, 2) gray + alpha picture whose alpha is fully opaque.

    Raises:
        InputError: some pixels are (partly) transparent.
    """
    if not np.all(array[..., 1] == np.iinfo(array.dtype).max):
        raise InputError(f"{path}: the picture has a transparent alpha channel; flatten it onto a background and "
                         "save it as a gray picture without alpha.")
    warnings.warn(f"{path}: dropped an all-opaque alpha channel.", stacklevel=4)
    return np.ascontiguousarray(array[..., 0])


def _exif_orientation(img) -> Tuple[int, str]:
    """The orientation of a loaded JPEG/PNG picture and where it was found (``(1, "")`` when absent or unreadable).

    Pillow's ``getexif()`` falls back to the XMP packet's ``tiff:Orientation`` when the EXIF block has
    none, so the EXIF block is read on its own to tell the two apart.

    Returns:
        ``(orientation, where)``: ``where`` is ``"EXIF Orientation"`` or ``"XMP tiff:Orientation"``.
    """
    from PIL import Image

    try:
        value = img.getexif().get(_TIFF_ORIENTATION, 1)
        raw = img.info.get("exif")
        exif = Image.Exif()
        if raw:
            exif.load(raw)
        in_exif = exif.get(_TIFF_ORIENTATION) == value
    except Exception:  # noqa: BLE001 - a malformed EXIF block only means "no orientation"
        return 1, ""
    if not isinstance(value, int):
        return 1, ""
    return value, "EXIF Orientation" if in_exif else "XMP tiff:Orientation"


def _as_slicer_shows(path: Path, array: np.ndarray, tiff_orientation: int, exif_orientation: int,
                     xmp_orientation: int = 1, exif_where: str = "EXIF Orientation") -> np.ndarray:
    """``array`` (stored grid, row 0 first) laid out as 3D Slicer (ITK) lays out the picture; warn where viewers differ.

    ``exif_where``: where a JPEG/PNG's ``exif_orientation`` was found (the EXIF block or, without one there,
    the XMP packet), as the warning names it.
    """
    if tiff_orientation in _ITK_TIFF_FLIPS:
        rows, columns = _ITK_TIFF_FLIPS[tiff_orientation]
        array = np.ascontiguousarray(array[::-1 if rows else 1, ::-1 if columns else 1])
    remedy = ("To segment the picture as viewers show it, save a copy with the orientation applied (e.g. Pillow's "
              "ImageOps.exif_transpose, or a lossless rotate in a photo editor) and segment that.")
    if tiff_orientation >= 5 and tiff_orientation in _VIEWED:
        warnings.warn(f"{path}: TIFF Orientation {tiff_orientation}: photo viewers show the picture "
                      f"{_VIEWED[tiff_orientation]}, but 3D Slicer (ITK) applies only the tag's mirroring, not its "
                      "90-degree turn. It is segmented as 3D Slicer shows it, so the mask lines up there and not in "
                      f"photo viewers. {remedy}", stacklevel=4)
    if tiff_orientation == 1 and xmp_orientation in _VIEWED:
        warnings.warn(f"{path}: the XMP tiff:Orientation {xmp_orientation} is ignored: some photo viewers show "
                      f"the picture {_VIEWED[xmp_orientation]}, but 3D Slicer (ITK) shows the stored pixels as they "
                      "are. It is segmented on the stored pixel grid, so the mask lines up in 3D Slicer. To segment "
                      "it as such viewers show it, save a copy turned as they show it and segment that.", stacklevel=4)
    if exif_orientation in _VIEWED:
        warnings.warn(f"{path}: {exif_where} {exif_orientation} is ignored: photo viewers show the picture "
                      f"{_VIEWED[exif_orientation]}, but 3D Slicer (ITK) shows the stored pixels as they are. It is "
                      "segmented on the stored pixel grid, so the mask lines up in 3D Slicer and not in photo "
                      f"viewers. {remedy}", stacklevel=4)
    return array


def read_photo(path: Path, frame: Optional[int]) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Decode a 2-D picture on the pixel grid 3D Slicer shows (see the module docstring on orientation).

    Returns:
        ``(array, facts)``: array (1, H, W) for gray or (1, H, W, C) for colour with C in {3, 4}, in
        the file's dtype (uint8, uint16, int32 or float32; a 16-bit gray PNG is uint16); row 0 is the
        top of the picture as 3D Slicer shows it. :func:`SDSegLogic.io.readers.read_image` scales
        uint16 to 0..255. ``facts["orientation"]``: the TIFF or EXIF Orientation tag, or a JPEG/PNG's XMP
        ``tiff:Orientation`` without one (1 when absent).

    Raises:
        InputError: undecodable or truncated file; multi-page file without ``frame``.
    """
    orientations, patches, xmp = _tiff_orientations(path)
    source = io.BufferedReader(_PatchedFile(path, patches)) if patches else None
    try:
        with _open(path, source) as img:
            frames = int(getattr(img, "n_frames", 1))
            if frames > 1 and frame is None:
                raise InputError(f"{path}: {frames} pages/frames; choose one with frame=0..{frames - 1} (--frame N; --frame all: every page).")
            if frame is not None:
                if not 0 <= frame < frames:
                    raise InputError(f"{path}: frame={frame} is out of range; the file has frames 0..{frames - 1}.")
                img.seek(frame)
            mode, opened = img.mode, img
            try:
                if mode in ("P", "PA"):
                    img = img.convert("RGBA" if "transparency" in img.info or mode == "PA" else "RGB")
                elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                    img = img.convert("RGB")
                elif mode == "1":
                    img = img.convert("L")
                array = np.asarray(img)
                if mode == "I" and img.format == "PNG":
                    array = array.astype(np.uint16)  # older Pillow opens 16-bit gray PNG as 32-bit "I"
            except (OSError, ValueError, SyntaxError) as exc:
                raise InputError(f"{path}: the picture is truncated or corrupt ({exc}); re-export it.") from None
            exif_orientation, exif_where = _exif_orientation(opened) if not orientations else (1, "")
    finally:
        if source is not None:
            source.close()
    page = frame or 0
    tiff_orientation = orientations[page] if page < len(orientations) else 1
    xmp_orientation = xmp[page] if page < len(xmp) else 1
    if mode == "LA":  # gray + alpha stays gray: the alpha goes, as for RGBA, if it is fully opaque
        array = _drop_opaque_alpha(path, array)
    if array.ndim not in (2, 3):
        raise InputError(f"{path}: unexpected pixel layout {array.shape}; save a gray or RGB picture.")
    array = _as_slicer_shows(path, array, tiff_orientation, exif_orientation, xmp_orientation, exif_where)
    return array[None], {"original_mode": mode, "original_dtype": str(array.dtype), "frames": frames,
                         "orientation": tiff_orientation if orientations else exif_orientation}
