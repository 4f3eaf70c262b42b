"""A PNG preview: class-coloured mask outlines over the slices with the most foreground.

Each volume panel is captioned with its slice (index along the axial axis and the S coordinate in
mm, the number Slicer's slice offset shows; A or R for a single coronal or sagittal slice), and a
legend below names every class with its colour:
the model card's colours are anatomical (Slicer's terminology colours), so liver, heart and aorta
are all reddish and would be hard to tell apart without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Tuple, Union

import numpy as np

from ..errors import InputError
from ..geometry import closest_axes, reorient
from .atomic import atomic_output, check_output_path

__all__ = ["write_preview", "representative_slices"]


def representative_slices(labels: np.ndarray, count: int = 3) -> List[int]:
    """Indices k of up to ``count`` slices of ``labels`` (K, J, I) that show every class, ascending.

    Greedy: each pick is the slice where the classes not yet shown are largest (each class's area
    relative to its largest area in any slice, summed), ties broken by total foreground. A class
    counts as shown once a picked slice holds at least a quarter of its largest area. So a preview
    of a chest-abdomen CT shows the liver and spleen too, not three slices of lung. Once every class
    is shown, the remaining picks are the slices with the most foreground, preferring slices that are
    not next to a picked one. With no foreground at all, the middle slice is returned.
    """
    flat = labels.reshape(labels.shape[0], -1)
    per_slice = np.count_nonzero(flat, axis=1)
    if not per_slice.any():
        return [labels.shape[0] // 2]
    values = [int(v) for v in np.unique(flat) if v != 0]
    area = np.stack([np.count_nonzero(flat == v, axis=1) for v in values], axis=1).astype(np.float64)  # (K, C)
    relative = area / area.max(axis=0)
    shown = np.zeros(len(values), dtype=bool)
    chosen: List[int] = []
    tie_break = per_slice / per_slice.max() * 1e-3
    min_gap = max(1, labels.shape[0] // (2 * (count + 1)))
    for _ in range(min(count, int(np.count_nonzero(per_slice)))):
        near = np.zeros(labels.shape[0], dtype=bool)
        for k in chosen:  # neighbours of a picked slice look alike: prefer slices further away
            near[max(0, k - min_gap):k + min_gap + 1] = True
        score = relative[:, ~shown].sum(axis=1) + np.where(near, 0.1, 1.0) * tie_break
        score[chosen] = -1.0
        score[per_slice == 0] = -1.0
        k = int(np.argmax(score))
        chosen.append(k)
        shown |= relative[k] >= 0.25
    return sorted(chosen)


#: LPS axis across the panels -> (orientation code, Slicer's slice offset name, sign of LPS -> RAS): axial
#: (right on the left, anterior at the top), coronal (right on the left, superior at the top) and sagittal
#: (anterior on the left, superior at the top), as Slicer's red, green and yellow views show them.
_VIEWS = {2: ("LPS", "S", 1.0), 1: ("LIP", "A", -1.0), 0: ("PIL", "R", -1.0)}


def _view(geometry: Any) -> Tuple[str, str, float]:
    """The view of :data:`_VIEWS` to show: axial, unless the volume is one coronal or sagittal slice.

    A volume one voxel thick across the A-P or R-L axis (a single coronal or sagittal slice, which
    the pipeline segments as it is) would otherwise show as axial rows one pixel high.
    """
    world = closest_axes(geometry.direction_matrix)[0]
    thin = [world[a] for a in range(3) if geometry.shape[a] == 1]
    return _VIEWS[2 if 2 in thin or not thin else thin[-1]]


def _square_pixels(shape_ji: Tuple[int, int], spacing: Tuple[float, ...]) -> Tuple[np.ndarray, np.ndarray]:
    """Row and column indices (nearest neighbour) that show a (J, I) slice with square millimetres.

    Args:
        shape_ji: the slice's (rows J, columns I).
        spacing: voxel size in mm along (i, j, ...) of the grid shown.

    Returns:
        int arrays (J', I'): the physically longer side keeps max(J, I) pixels and the other is
        scaled to the spacing ratio, as Slicer's slice views show it; unchanged for square pixels.
    """
    size_j, size_i = (int(n) for n in shape_ji)
    extent_j, extent_i = size_j * float(spacing[1]), size_i * float(spacing[0])
    pixel = max(extent_j, extent_i) / max(size_j, size_i)  # mm per picture pixel
    indices = []
    for size, extent in ((size_j, extent_j), (size_i, extent_i)):
        count = max(1, int(round(extent / pixel)))
        indices.append(np.minimum(((np.arange(count) + 0.5) * size / count).astype(np.int64), size - 1))
    return indices[0], indices[1]


def _display(image: np.ndarray, card: Any, is_rgb: bool) -> np.ndarray:
    """One slice (J, I) or (J, I, 3) -> uint8 RGB (J, I, 3), CT windowed with the card's window.

    Without a window the slice's finite range is shown; NaN/infinite voxels (segmented as the
    window minimum under ``nan_policy="fill"``) are shown as its minimum, and an infinity does not
    stretch the range until every other voxel is black.
    """
    x = np.asarray(image, dtype=np.float32)
    finite = np.isfinite(x)
    if is_rgb:
        return np.clip(np.where(finite, x, 0.0), 0, 255).astype(np.uint8)
    if card.intensity.kind == "window":
        low, high = float(card.intensity.low), float(card.intensity.high)
    else:
        low, high = (float(x[finite].min()), float(x[finite].max())) if finite.any() else (0.0, 1.0)
    x = np.where(finite, x, np.float32(low))
    scaled = (np.clip(x, low, high) - low) / max(high - low, 1e-6) * 255.0
    return np.repeat(scaled.astype(np.uint8)[..., None], 3, axis=2)


def _erode(mask: np.ndarray) -> np.ndarray:
    padded = np.pad(mask, 1, constant_values=False)
    return mask & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]


def _outline(mask: np.ndarray, width: int = 2) -> np.ndarray:
    """Pixels of ``mask`` (J, I) bool within ``width`` pixels of its boundary (4-neighbourhood)."""
    interior = mask
    for _ in range(width):
        interior = _erode(interior)
    return mask & ~interior


def write_preview(path: Union[str, Path], image_data: Any, result: Any, card: Any, *, max_slices: int = 3,
                  input_path: Optional[Union[str, Path]] = None) -> Path:
    """Write a PNG with class-coloured outlines over up to ``max_slices`` representative slices.

    Volumes are shown as axial slices in the radiological convention (patient right on the left of
    the picture, anterior at the top: the grid reoriented to LPS without resampling), side by side,
    in the card's window; a single coronal or sagittal slice is shown as that slice, as Slicer's
    green or yellow view shows it; photos are shown as they are. Pixels are stretched to the voxel
    spacing (nearest neighbour), so a millimetre is as long across as down, as in Slicer's views.
    The representative slices are those with the most foreground (the middle slice when the
    segmentation is empty).

    Args:
        path: output ``.png`` (written atomically).
        image_data: :class:`~SDSegLogic.io.readers.ImageData` that was segmented.
        result: its :class:`~SDSegLogic.segment.SegmentationResult` (labels (K, J, I)).
        card: the model card (window, class colours).
        max_slices: at most this many panels.
        input_path: the segmented image; writing over it is refused.

    Returns:
        The path written.
    """
    from PIL import Image

    path = check_output_path(path, input_path if input_path is not None else getattr(image_data, "source", None))
    if not path.name.lower().endswith(".png"):
        raise InputError(f"{path}: a preview is a PNG; use a name ending in .png.")
    labels = np.asarray(result.labels)
    array = np.asarray(image_data.array)
    if labels.shape != array.shape[:3]:
        raise InputError(f"{path}: labels {labels.shape} and image {array.shape[:3]} differ; pass the image that was "
                         "segmented.")
    plan = None
    if not image_data.is_rgb and not (getattr(image_data, "metadata", None) or {}).get("is_2d", False):
        import warnings

        code, offset_name, ras_sign = _view(image_data.geometry)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # obliquity was already reported when segmenting
            array, _, plan = reorient(array, image_data.geometry, code)
        labels = plan.apply(labels)
    colours = {c.label_value: np.round(np.asarray(c.color) * 255).astype(np.uint8) for c in card.classes}
    rows, columns = _square_pixels(labels.shape[1:], (plan.target if plan is not None else image_data.geometry).spacing)
    width = max(1, round(max(rows.size, columns.size) / 400))  # outline thickness grows with the picture
    factor = max(1, 256 // max(rows.size, columns.size))  # enlarge tiny images (nearest neighbour)
    rows, columns = np.repeat(rows, factor), np.repeat(columns, factor)
    panels, captions = [], []
    for k in representative_slices(labels, max(1, int(max_slices))):
        rgb = _display(array[k], card, bool(image_data.is_rgb))[rows][:, columns]
        plane = labels[k][rows][:, columns]
        for value, colour in colours.items():
            rgb[_outline(plane == value, width=width + 1)] = colour
        panels.append(rgb)
        if plan is not None:
            lps = plan.target.index_to_world(np.array([0.0, 0.0, float(k)]))
            offset = ras_sign * float(lps["RAS".index(offset_name)])
            captions.append(f"slice {k + 1}/{labels.shape[0]}   {offset_name} {offset:.1f} mm")
    present = {int(v) for v in np.unique(labels)}
    legend = [(c.name if int(c.label_value) in present else f"{c.name} (not found)", colours[c.label_value])
              for c in card.classes]
    picture = _compose(panels, captions, legend)
    with atomic_output(path) as tmp:
        picture.save(tmp, format="PNG")
    return path


#: dark grey of the gaps, captions and legend (Slicer's viewer background is black)
_BACKGROUND = (24, 24, 24)


def _compose(panels: List[np.ndarray], captions: List[str], legend: List[Tuple[str, np.ndarray]]) -> Any:
    """Panels side by side, a caption under each (volumes), and a legend row of colour swatches.

    Args:
        panels: uint8 RGB (H, W_n, 3) pictures of equal height.
        captions: one line per panel, or none (photos).
        legend: (class name, RGB colour) in card order.

    Returns:
        A ``PIL.Image`` in RGB.
    """
    from PIL import Image, ImageDraw

    height, gap = panels[0].shape[0], 4
    size = max(11, min(22, height // 18))
    font = _font(size)
    line = size + size // 2
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    # a panel narrower than its caption (a thin slice) gets a wider slot, so captions never overlap
    slots = [max(p.shape[1], int(measure.textlength(captions[n], font=font)) + 2 * gap if captions else 0)
             for n, p in enumerate(panels)]
    total_width = sum(slots) + gap * (len(panels) - 1)
    rows = _legend_rows(legend, font, size, total_width)
    total_width = max([total_width] + [x + _entry_width(name, font, size) for row in rows for x, name, _ in row])
    canvas = Image.new("RGB", (total_width, height + (line if captions else 0) + line * len(rows) + gap), _BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    x = 0
    for n, panel in enumerate(panels):
        canvas.paste(Image.fromarray(panel), (x, 0))
        if captions:
            draw.text((x + gap, height + size // 4), captions[n], fill=(230, 230, 230), font=font)
        x += slots[n] + gap
    y = height + (line if captions else 0) + size // 4
    for row in rows:
        for x, name, colour in row:
            draw.rectangle([x, y + 1, x + size - 1, y + size - 1], fill=tuple(int(c) for c in colour))
            draw.text((x + size + size // 3, y), name, fill=(230, 230, 230), font=font)
        y += line
    return canvas


def _entry_width(name: str, font: Any, size: int) -> int:
    """Pixels one legend entry takes: swatch, gap, name and the space before the next entry."""
    from PIL import Image, ImageDraw

    return size + size // 3 + int(ImageDraw.Draw(Image.new("RGB", (1, 1))).textlength(name, font=font)) + 2 * size


def _legend_rows(legend: List[Tuple[str, np.ndarray]], font: Any, size: int, width: int) -> List[list]:
    """Lay legend entries out in rows that fit ``width`` (a wider entry gets a row of its own): (x, name, colour)."""
    rows: List[list] = [[]]
    x = 4
    for name, colour in legend:
        entry = _entry_width(name, font, size)
        if rows[-1] and x + entry > width:
            rows.append([])
            x = 4
        rows[-1].append((x, name, colour))
        x += entry
    return rows if rows[0] else []


def _font(size: int) -> Any:
    """Pillow's bundled font at ``size`` pixels (a fixed bitmap font on Pillow < 10.1)."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: no size argument
        return ImageFont.load_default()
