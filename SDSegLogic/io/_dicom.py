"""DICOM series reading through SimpleITK/GDCM, with the geometry checks DICOM needs.

Geometry comes from ImagePositionPatient/ImageOrientationPatient (never SliceThickness); slices
are sorted by position along the normal (GDCM does this). Missing slices, gantry tilt, slices of
several orientations or pixel sizes, and slices without position or orientation are rejected because a
regular grid cannot represent them. A multi-frame file
(enhanced CT/MR) is read alone and its frames checked by :mod:`._dicom_frames`; a series that mixes
one with other files is never given to GDCM's sort, which crashes on it (:func:`list_series`).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import GeometryError, InputError
from ._dicom_exact import EXACT_TAGS, exact_pixel_type, gdcm_pixel_type, note_rescale
from ._dicom_messages import no_series_text, tie_text, unknown_series_text, unplaced_text
from ._dicom_stack import PLACEMENT_TAGS, check_stack, note_placement, unknown_spacing_note
from ._sitk import array_from_sitk, geometry_from_sitk, itk_safe_path, itk_warnings_silenced
from .sniff import sniff_content

__all__ = ["list_series", "unlisted_files", "dicom_voxel_count", "read_dicom", "PHOTO_MODALITIES"]

#: DICOM Modality codes (0008,0060) of photographs (camera pictures like a PNG, no physical unit) -> name
PHOTO_MODALITIES = {"OP": "ophthalmic photography", "XC": "external-camera photography", "ES": "endoscopy",
                    "SM": "slide microscopy", "GM": "general microscopy", "DMS": "dermoscopy"}


def list_series(path: Path) -> Tuple[Path, Dict[str, List[str]]]:
    """All series in the folder (or the folder of a DICOM file): UID -> sorted file names.

    GDCM sorts the files of a series by position. A series that mixes a multi-frame file (enhanced
    CT/MR) with other files is not given to it: its sort crashes the process (a segmentation fault in
    about half of the processes that list such a folder, SimpleITK 2.5). Such a series is listed in
    file-name order; it is refused or reduced to its multi-frame file later (:func:`_multiframe_files`).
    """
    folder, series, _ = _scan_series(path)
    return folder, series


def _scan_series(path: Path) -> Tuple[Path, Dict[str, List[str]], Dict[str, Dict[str, str]]]:
    """:func:`list_series` plus the header tags of every file read on the way (file name -> tag -> value).

    The one header pass that finds multi-frame files keeps the tags :func:`_slice_info` needs, so the
    files of the chosen series are not read a second time; listing the same unchanged folder again (reading
    it after listing it) reuses its listing, kept with the last few (:mod:`._dicom_listing`).
    """
    from ._dicom_listing import remembered_listing

    folder = path if path.is_dir() else path.parent
    return remembered_listing(folder, lambda: _scan_folder(path, folder))


def _scan_folder(path: Path, folder: Path) -> Tuple[Path, Dict[str, List[str]], Dict[str, Dict[str, str]]]:
    """:func:`_scan_series` of ``folder`` (``path`` or its folder) by GDCM and one header read per file."""
    import SimpleITK as sitk

    reader = sitk.ImageSeriesReader()
    with itk_safe_path(folder) as safe:
        with itk_warnings_silenced():  # "No Series were found": the InputError below says it in our words
            ids = reader.GetGDCMSeriesIDs(str(safe))
        headers = _read_headers(Path(safe))
        mixed = _series_with_multiframe_files(headers)
        series = {uid: [str(Path(safe) / name) for name in mixed[_bare_uid(uid)]] if _bare_uid(uid) in mixed
                  else list(reader.GetGDCMSeriesFileNames(str(safe), uid)) for uid in ids}
        if safe != folder:
            series = {uid: [str(folder / Path(f).name) for f in files] for uid, files in series.items()}
    if not series:
        raise InputError(no_series_text(path, folder))
    return folder, series, headers


def _bare_uid(uid: str) -> str:
    """A UID without the padding (space or NUL) DICOM adds to an odd length."""
    return uid.strip().strip("\0").strip()


_TAGS = ("0020|000e", "0020|0032", "0020|0037", "0028|0008", "0008|0060", "0028|1053", "0028|1052", "0028|0010",
         "0028|0011", "0028|0002", "0028|0004") + EXACT_TAGS + PLACEMENT_TAGS  # series UID, position, orientation,
# frames, modality, rescale slope/intercept, rows, columns, samples per pixel, photometric interpretation, bits
# allocated, signedness, pixel spacing, imager pixel spacing


def _header_tags(reader) -> Dict[str, str]:
    """The :data:`_TAGS` a reader holds after ``ReadImageInformation`` (tag -> value), and GDCM's ``pixel`` type."""
    tags = {tag: reader.GetMetaData(tag) for tag in _TAGS if reader.HasMetaDataKey(tag)}
    return {**tags, "pixel": gdcm_pixel_type(reader)}


def _read_headers(folder: Path) -> Dict[str, Dict[str, str]]:
    """File name -> :data:`_TAGS` of every DICOM image in ``folder``, each header read once with GDCM (no pixels).

    Files that are not DICOM images are skipped, as GDCM's own listing skips them.
    """
    import SimpleITK as sitk

    headers: Dict[str, Dict[str, str]] = {}
    for entry in sorted(folder.iterdir()):
        if entry.name.upper() == "DICOMDIR" or not entry.is_file():
            continue
        reader = sitk.ImageFileReader()
        reader.SetImageIO("GDCMImageIO")
        reader.SetFileName(str(entry))
        try:
            reader.ReadImageInformation()
        except RuntimeError:  # not a DICOM image
            continue
        headers[entry.name] = _header_tags(reader)
    return headers


def _series_with_multiframe_files(headers: Dict[str, Dict[str, str]]) -> Dict[str, List[str]]:
    """Series (bare UID -> file names, by name) that hold a multi-frame file and at least one other file."""
    files: Dict[str, List[str]] = {}
    multiframe = set()
    for name, tags in headers.items():
        uid = _bare_uid(tags.get("0020|000e", ""))
        files.setdefault(uid, []).append(name)
        frames = tags.get("0028|0008", "1").strip()
        if frames.isdigit() and int(frames) > 1:
            multiframe.add(uid)
    return {uid: names for uid, names in files.items() if uid in multiframe and len(names) > 1}


def _looks_like_dicom(path: Path) -> bool:
    """A ``.dcm``/``.dicom``/``.ima`` name or DICOM content as :func:`~SDSegLogic.io.sniff.sniff_content` knows
    it: the ``DICM`` marker at byte 128 or a data set stored without preamble (DICOMDIR excluded)."""
    if path.name.upper() == "DICOMDIR" or not path.is_file():
        return False
    if path.suffix.lower() in (".dcm", ".dicom", ".ima"):
        return True
    try:
        with open(path, "rb") as fh:
            head = fh.read(512)
    except OSError:
        return False
    return sniff_content(head) == "dicom"


def unlisted_files(folder: Path, series: Dict[str, List[str]]) -> List[Path]:
    """DICOM-looking files of ``folder`` that GDCM put in no series (truncated, corrupt or not images)."""
    listed = {Path(f).resolve() for files in series.values() for f in files}
    return sorted(p for p in folder.iterdir() if p.resolve() not in listed and _looks_like_dicom(p))


def _unlisted_note(folder: Path, unlisted: List[Path]) -> str:
    names = ", ".join(p.name for p in unlisted[:5]) + (f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else "")
    return (f"{folder}: {len(unlisted)} DICOM file(s) belong to no readable series and were left out ({names}); "
            "they are truncated, corrupt or not images. If slices are missing, re-export the series.")


def _choose(path: Path, series: Dict[str, List[str]], uid: Optional[str]) -> Tuple[str, List[str], List[str]]:
    """The series to read: ``uid``, else the named file's series, else the largest one.

    Raises:
        InputError: unknown ``uid``; a named file that is in no series; two or more largest series.
    """
    notes: List[str] = []
    if uid is not None:
        if uid not in series:
            raise InputError(unknown_series_text(path, series, uid))
        return uid, series[uid], notes
    if path.is_file():
        for key, files in series.items():
            if any(Path(f).resolve() == path.resolve() for f in files):
                return key, files, notes
        raise InputError(
            f"{path}: this file belongs to no readable DICOM series in its folder (it is truncated, corrupt or not "
            f"an image; the folder holds {len(series)} readable series). Name another file of the series or its "
            "folder, or re-export the series."
        )
    largest = max(len(files) for files in series.values())
    if sum(len(files) == largest for files in series.values()) > 1:
        raise InputError(tie_text(path, series, largest))
    chosen = max(series, key=lambda k: len(series[k]))
    if len(series) > 1:
        sizes = sorted((len(f) for f in series.values()), reverse=True)
        notes.append(
            f"{path}: {len(series)} DICOM series found (slice counts {sizes}); using the largest "
            f"({len(series[chosen])} slices). Put one series per folder to choose another."
        )
    return chosen, series[chosen], notes


def _numbers(tags: Dict[str, str], name: str, tag: str, keyword: str, count: int) -> np.ndarray:
    """The ``count`` numbers of a DICOM decimal-string tag, or a GeometryError naming the file and the tag."""
    text = tags[tag]
    try:
        values = np.array([float(v) for v in text.split("\\")], dtype=np.float64)
    except ValueError:
        values = np.zeros(0)
    if values.shape != (count,) or not np.all(np.isfinite(values)):
        raise GeometryError(f"{name}: {keyword} is malformed ('{text.strip()}'; {count} numbers expected), so the "
                            "slice cannot be placed; the file is damaged, re-export the series.")
    return values


def _slice_info(files: List[str], headers: Optional[Dict[str, Dict[str, str]]] = None
                ) -> Tuple[np.ndarray, np.ndarray, Dict[str, str]]:
    """Positions (N, 3), the orientation (6,) and facts of the series' files, from ``headers`` where given."""
    import SimpleITK as sitk

    positions, orient, first = [], None, {"frames": []}
    for index, name in enumerate(files):
        keys = (headers or {}).get(Path(name).name)
        if keys is None:
            reader = sitk.ImageFileReader()
            reader.SetFileName(name)
            reader.ReadImageInformation()
            keys = _header_tags(reader)
        if "0020|0032" in keys:
            positions.append(_numbers(keys, name, "0020|0032", "ImagePositionPatient", 3))
        if "0020|0037" in keys:
            here = _numbers(keys, name, "0020|0037", "ImageOrientationPatient", 6)
            if orient is None:
                orient = here
            elif np.abs(here - orient).max() > 1e-3 and "other_orient" not in first:
                first["other_orient"] = f"{Path(name).name} has {here.round(4).tolist()}"
        note_placement(first, keys, name)
        frames = keys["0028|0008"].strip() if "0028|0008" in keys else "1"
        first["frames"].append(int(frames) if frames.isdigit() else 1)
        note_rescale(first, keys)
        if index == 0:
            for tag, key in (("0008|0060", "modality"), ("0028|1053", "slope"), ("0028|1052", "intercept"),
                             ("0028|0010", "rows"), ("0028|0011", "columns"), ("0028|0002", "samples"),
                             ("0028|0004", "photometric")):
                if tag in keys:
                    first[key] = keys[tag].strip()
        else:
            if any(_number_or(keys.get(tag, ""), default) != _number_or(first.get(key, ""), default)
                   for tag, key, default in (("0028|1053", "slope", 1.0), ("0028|1052", "intercept", 0.0))):
                first["varying_rescale"] = "1"  # a slope or intercept of its own
            size = tuple(keys[t].strip() if t in keys else "" for t in ("0028|0010", "0028|0011"))
            if size != (first.get("rows", ""), first.get("columns", "")) and "other_size" not in first:
                first["other_size"] = f"{Path(name).name} has {size[0]} x {size[1]} pixels"
    return np.asarray(positions, dtype=np.float64), orient, first


def dicom_voxel_count(path: Path, series: Optional[str]) -> Tuple[int, Dict[str, Any]]:
    """Voxels of the chosen series from headers only, plus what :func:`read_dicom` needs."""
    folder, all_series, headers = _scan_series(path)
    uid, files, notes = _choose(path, all_series, series)
    unlisted = unlisted_files(folder, all_series)
    left_out = _unlisted_note(folder, unlisted) if unlisted else ""
    if left_out:
        notes.append(left_out)
    positions, orient, first = _slice_info(files, headers)
    if "other_size" in first:
        raise InputError(f"{path}: the slices of the series differ in size ({first['other_size']}, "
                         f"{Path(files[0]).name} has {first.get('rows')} x {first.get('columns')}); the series mixes "
                         "images of different acquisitions. Keep one series of equal-sized slices per folder.")
    if "other_orient" in first:
        raise GeometryError(f"{path}: the slices of the series have different orientations ({first['other_orient']} "
                            f"as ImageOrientationPatient, {Path(files[0]).name} has {np.round(orient, 4).tolist()}); "
                            "they do not form one volume (e.g. a localizer). Load the series in 3D Slicer, which "
                            "splits it by orientation, or export each orientation as its own series.")
    files, frames = _multiframe_files(path, files, first["frames"])
    if frames == len(files) > 1 and (first.get("unplaced") or "other_spacing" in first):  # GDCM would make up
        raise GeometryError(unplaced_text(path, first.get("unplaced", []), len(files), first.get("other_spacing")))
    if frames > len(files):  # a multi-frame file: its frame positions are checked after GDCM reads it
        positions = np.zeros((0, 3))
    rows, cols = int(first.get("rows", 0) or 0), int(first.get("columns", 0) or 0)
    return rows * cols * frames * _channels(first), {"files": files, "positions": positions, "orient": orient, "first": first,
                                  "notes": notes, "series_count": len(all_series), "left_out": left_out,
                                  "multiframe": frames > len(files)}


def _multiframe_files(path: Path, files: List[str], frames: List[int]) -> Tuple[List[str], int]:
    """``(files to read, frames in them)``: a multi-frame file is read alone (the one named, or the only one).

    Raises:
        InputError: a folder (or a single-frame file) whose series holds a multi-frame file among others.
    """
    multi = [(name, count) for name, count in zip(files, frames) if count > 1]
    if not multi:
        return files, len(files)
    named = [(name, count) for name, count in multi if path.is_file() and Path(name).resolve() == path.resolve()]
    if named or len(files) == 1:
        return [(named or multi)[0][0]], (named or multi)[0][1]
    listed = ", ".join(f"{Path(name).name} ({count} frames)" for name, count in multi[:5])
    raise InputError(f"{path}: the series holds {len(files)} files, of which {len(multi)} multi-frame DICOM "
                     f"image(s) ({listed}); a multi-frame file is a volume of its own. Name the multi-frame file to read "
                     "(e.g. sdseg segment path/to/file.dcm), or put it in a folder of its own.")


def _channels(first: Dict[str, str]) -> int:
    """Values per pixel GDCM returns: 3 for colour (SamplesPerPixel 3, or a palette it turns into RGB), else 1."""
    samples = first.get("samples", "1").strip()
    palette = first.get("photometric", "").strip().upper().startswith("PALETTE")
    return 3 if palette or (samples.isdigit() and int(samples) == 3) else 1


def _number_or(text: str, default: float):
    """A rescale field's value: ``default`` when empty, the text itself when not a number (compared as given)."""
    text = text.strip()
    try:
        return float(text) if text else default
    except ValueError:
        return text


def _plain_photo(first: Dict[str, str]) -> bool:
    """A photo modality (:data:`PHOTO_MODALITIES`) without rescale: read in its own pixel type, as a PNG is.

    Every slice counts: a slice whose slope or intercept differs from the first's (``varying_rescale``) makes the
    series rescaled, read as float32, since ITK applies that slice's rescale in the first file's pixel type (a
    negative intercept on unsigned pixels wraps: 50 - 100 became 65486).
    """
    identity = all(first.get(key, default).strip() in ("", default, default + ".0")
                   for key, default in (("slope", "1"), ("intercept", "0")))
    photo = first.get("modality", "").strip().upper() in PHOTO_MODALITIES
    return photo and identity and not first.get("varying_rescale")


def read_dicom(path: Path, plan: Dict[str, Any], exact: bool = False) -> Tuple[np.ndarray, Any, Dict[str, Any]]:
    """Read the series chosen by :func:`dicom_voxel_count` as float32 (rescale applied per slice).

    With ``exact`` (a labelmap), a gray series whose every slice has a whole-number rescale slope and intercept
    (or none) is read as integers instead, straight into the smallest type that holds every value its headers allow
    (:func:`~SDSegLogic.io._dicom_exact.exact_pixel_type`: uint8 for 8-bit labels, int64 only where needed), so
    that labels from 2**24 on (where float32 rounds 16777217 to 16777216) stay apart. A fractional rescale is still
    read as float32.

    A colour series (RGB, YBR or palette colour; a fundus or skin photo, a secondary capture) keeps
    its colour, as in SimpleITK and 3D Slicer: it is read in its own pixel type, without rescale. So
    is a gray photo (:data:`PHOTO_MODALITIES`, no rescale), so that a 16-bit one is scaled to 0..255
    as a 16-bit PNG is.

    Returns:
        ``(array, geometry, facts)``: float32 (K, J, I); (K, J, I) in the stored type for a gray
        photo; (K, J, I, 3) uint8/uint16 for colour.
    """
    import SimpleITK as sitk

    try:
        check_stack(path, plan["positions"], plan["orient"], plan["files"])
    except GeometryError as exc:
        if not plan.get("left_out"):
            raise
        raise GeometryError(f"{exc} Also: {plan['left_out']}") from None
    for note in plan["notes"]:
        warnings.warn(note, stacklevel=3)
    if plan.get("multiframe"):  # one file: read as 3-D (the series reader would make it 4-D)
        reader = sitk.ImageFileReader()
        reader.SetFileName(plan["files"][0])
    else:
        reader = sitk.ImageSeriesReader()
        reader.SetFileNames(plan["files"])
    colour = _channels(plan["first"]) == 3
    integral = exact_pixel_type(plan["first"]) if exact else None
    if not (colour or _plain_photo(plan["first"])):  # a float output of a colour image would be its luminance
        # per-slice rescale in float (or, whole-number rescale, in an integer type holding it): no truncation
        # (SimpleITK #1636)
        reader.SetOutputPixelType(getattr(sitk, integral) if integral else sitk.sitkFloat32)
    try:
        image = reader.Execute()
    except RuntimeError as exc:
        raise InputError(f"{path}: the DICOM series cannot be read ({str(exc).strip().splitlines()[-1]}); "
                         "some files are corrupt or truncated, re-export the series.") from None
    components = image.GetNumberOfComponentsPerPixel()
    if components != (3 if colour else 1):
        samples, photometric = plan["first"].get("samples", "1").strip(), plan["first"].get("photometric", "").strip()
        raise InputError(f"{path}: DICOM pixels of {components} values (SamplesPerPixel {samples}, {photometric!r}) "
                         "are not supported; export the series as grayscale or RGB.")
    geometry = geometry_from_sitk(image, str(path))
    if plan.get("multiframe"):  # after Execute: ITK turns a negative frame step into a flipped k axis there
        from ._dicom_frames import check_multiframe

        check_multiframe(path, plan["files"][0], geometry)
    array = array_from_sitk(image)  # ITK's buffer itself: a copy would hold the voxels twice
    if image.GetDimension() == 2:
        array = array[None]
    first = plan["first"]
    unknown = None if plan.get("multiframe") or colour or _plain_photo(first) else unknown_spacing_note(
        path, first, len(plan["files"]), geometry.spacing)  # a multi-frame file keeps it per frame; photos have none
    if unknown:
        warnings.warn(unknown, stacklevel=3)
    facts: Dict[str, Any] = {
        "modality": first.get("modality", ""),
        "series_count": plan["series_count"],
        "slices": int(array.shape[0]),
        "notes": list(plan["notes"]) + ([unknown] if unknown else []),
    }
    if "slope" in first or "intercept" in first:
        facts["rescale"] = {"slope": float(first.get("slope", 1) or 1),
                            "intercept": float(first.get("intercept", 0) or 0),
                            "varies_per_slice": bool(first.get("varying_rescale"))}
    return array, geometry, facts
