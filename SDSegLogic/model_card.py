"""The model card: the data contract of a trained model (``model_card.json``).

The architecture lives in ``config.json`` (:mod:`SDSegLogic.config`); the card says what the
model expects and what it produces, so that a volume is prepared exactly as in training and the
result is labelled the way a clinician expects:

* task, modality, version, licence, intended-use statement;
* input: channels (1 for CT/CBCT, 3 for RGB photos), intensity mapping (CT window in HU or RGB
  scaling), the orientation slices were cut in (an ITK/DICOM-style code such as ``"LPS"``: voxel
  axis i points to patient Left, j to Posterior, k to Superior, slices are k-planes) and the
  in-plane training size;
* classes: name, label value, colour and terminology code of every segment;
* sha256 of every weight file, checked on load.
"""

from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import InitVar, dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Dict, List, Optional, Tuple

from .class_names import breaks_lines, class_name_key, class_name_problem
from .errors import ModelCardError
from .json_values import is_finite_number, is_integer
from .model_names import model_id_problem, version_problem
from .terminology import terminology_problem

__all__ = ["IntensityMapping", "SegmentClass", "ModelCard", "MODEL_CARD_FORMAT_VERSION", "IMAGE_RESIZE_MODES",
           "read_segment_class"]

MODEL_CARD_FORMAT_VERSION = 1
IMAGE_RESIZE_MODES = ("bilinear", "bicubic", "pillow-bilinear", "pillow-bicubic", "corners-bilinear")
"""Resizes a card may name for the training images: ``bilinear``/``bicubic`` (``align_corners=False``, no
antialiasing; this project's training), ``pillow-*`` (Pillow's antialiased resize) and ``corners-bilinear``
(``scipy.ndimage.zoom(order=1)``), the last three for checkpoints of the official code; see
:mod:`SDSegLogic.input_resize`."""
_AXIS_LETTERS = {"L": 0, "R": 0, "P": 1, "A": 1, "S": 2, "I": 2}
_SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
_EXAMPLE = "compare with the bundled card Resources/Models/sdseg-demo-ct-lite/model_card.json"
_CLASS_EXAMPLE = '{"name": "liver", "label_value": 1, "color": [0.87, 0.51, 0.4]}'
_SHARED_WEIGHT_NAMES = ("autoencoder.safetensors", "autoencoder.fp16.safetensors")
"""The only weight files a card may reference outside its folder (``../<folder>/autoencoder.safetensors``):
the shared autoencoder that :func:`SDSegLogic.model_folder.save_model_folder` writes."""


@dataclass(frozen=True)
class IntensityMapping:
    """How raw voxel values become model input in [-1, 1].

    Attributes:
        kind: ``"window"``: clip to [``low``, ``high``] (e.g. HU) then scale linearly to [-1, 1];
            ``"rgb"``: 8-bit colour ``x / 255 * 2 - 1``;
            ``"minmax"``: per-image min-max to [-1, 1] (for data without a physical unit).
        low, high: window bounds, required for ``"window"``.
    """

    kind: str = "window"
    low: Optional[float] = -125.0
    high: Optional[float] = 275.0

    def validate(self, where: str) -> None:
        if self.kind not in ("window", "rgb", "minmax"):
            raise ModelCardError(f"{where}: intensity.kind {self.kind!r} must be 'window', 'rgb' or 'minmax'.")
        if self.kind == "window":
            if not (is_finite_number(self.low) and is_finite_number(self.high) and self.high > self.low):
                raise ModelCardError(
                    f"{where}: a 'window' mapping needs finite numbers low < high, got low={self.low!r}, "
                    f"high={self.high!r}."
                )


@dataclass(frozen=True)
class SegmentClass:
    """One output segment.

    Attributes:
        name: display name, e.g. ``"liver"``: printable, without surrounding whitespace, at most 64
            characters, so that the ``.seg.nrrd`` and the DICOM SEG name the segment alike
            (:func:`SDSegLogic.class_names.class_name_problem`).
        label_value: value written in labelmaps and ``.seg.nrrd`` (1..255; 0 is background).
        color: RGB in [0, 1].
        terminology: Slicer-style coded concepts, e.g.
            ``{"category": ["SCT", "123037004", "Anatomical Structure"], "type": ["SCT", "10200004", "Liver"]}``
            (each entry is coding scheme, code value, code meaning); ``category`` and ``type`` are
            given together or not at all (:func:`SDSegLogic.terminology.terminology_problem`).
    """

    name: str
    label_value: int
    color: Tuple[float, float, float] = (0.5, 0.5, 0.5)
    terminology: Dict[str, Tuple[str, str, str]] = field(default_factory=dict)

    def validate(self, where: str) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ModelCardError(f"{where}: every class needs a non-empty name, got {self.name!r}.")
        problem = class_name_problem(self.name)  # one name in the .seg.nrrd and the DICOM SEG alike
        if problem:
            raise ModelCardError(f"{where}: class name {self.name!r} {problem}")
        if not (is_integer(self.label_value) and 1 <= self.label_value <= 255):
            raise ModelCardError(f"{where}: class {self.name!r} label_value {self.label_value!r} must be an integer 1..255.")
        if len(self.color) != 3 or not all(is_finite_number(c) and 0.0 <= float(c) <= 1.0 for c in self.color):
            raise ModelCardError(f"{where}: class {self.name!r} color {self.color!r} must be three numbers in [0, 1].")
        problem = terminology_problem(self.terminology)  # roles, code parts, category and type together
        if problem:
            raise ModelCardError(f"{where}: class {self.name!r} {problem}")


@dataclass(frozen=True)
class ModelCard:
    """Everything a user and the volume pipeline need to know about a trained model.

    Attributes:
        model_id: short stable identifier, e.g. ``"sdseg-demo-ct-lite"``.
        version: semantic version of the weights.
        task: one-line task description.
        modality: ``"CT"``, ``"CBCT"``, ``"fundus"``, ``"endoscopy"``, ...
        input_channels: 1 (grayscale, repeated to 3 for the network) or 3 (RGB).
        intensity: the intensity mapping applied before the network.
        orientation: orientation code the slices were cut in (see module docstring); the
            volume is reoriented to it before slicing and back afterwards.
        training_size: in-plane size in pixels the model was trained at.
        classes: foreground classes. A binary model has one; a K-class model has K - 1 (class index
            0 of the network is the union of all foreground and becomes background).
        threshold: soft-map threshold of binary models.
        license, description, intended_use, authors, references: free text.
        weights: file name -> sha256 hex digest of every weight file in the folder.
        training: free-form record of data, splits, metrics.
        image_resize: how the training images were resized to ``training_size``, so the engine
            resizes its input the same way (:data:`IMAGE_RESIZE_MODES`): ``"bilinear"`` (default;
            CT and most datasets) or ``"bicubic"`` (this project's Kvasir-SEG training), never
            antialiased; for checkpoints of the official code ``"pillow-bilinear"`` (CVC-ClinicDB,
            REFUGE2), ``"pillow-bicubic"`` (Kvasir-SEG) or ``"corners-bilinear"`` (STS-3D). Written
            to the JSON only when not the default, so cards stay readable by engines that predate it.
        fast_decoder: for a model that carries the optional distilled decoder (beyond the paper,
            opt-in), what it is and what it costs, e.g. ``{"distilled_from": "autoencoder
            decoder", "dice_delta": -0.004, "evaluated_on": "..."}``; empty otherwise.
    """

    model_id: str
    version: str = "0.0.0"
    task: str = ""
    modality: str = "CT"
    input_channels: int = 1
    intensity: IntensityMapping = field(default_factory=IntensityMapping)
    orientation: str = "LPS"
    training_size: int = 256
    classes: Tuple[SegmentClass, ...] = ()
    threshold: float = 0.5
    license: str = "unspecified"
    description: str = ""
    intended_use: str = "Research use only. Not a medical device; not for clinical decisions."
    authors: Tuple[str, ...] = ()
    references: Tuple[str, ...] = ()
    weights: Dict[str, str] = field(default_factory=dict)
    training: Dict[str, Any] = field(default_factory=dict)
    fast_decoder: Dict[str, Any] = field(default_factory=dict)
    image_resize: str = "bilinear"
    source: InitVar[str] = "model card"
    """What gave the values (a card file, ``sdseg-export``'s card file...): the errors of construction begin with it.
    Kept on the instance (``card.source``), but not a field: not written to ``model_card.json``, not compared."""

    def __post_init__(self, source: str) -> None:
        self.validate(source)
        object.__setattr__(self, "source", source)  # else ``card.source`` reads the class default "model card"

    def validate(self, where: str = "model card") -> None:
        """Raise :class:`ModelCardError` naming the offending field and value."""
        if not isinstance(self.model_id, str) or not self.model_id:
            raise ModelCardError(f"{where}: model_id {self.model_id!r} must be a non-empty string, a short identifier.")
        if breaks_lines(self.model_id):  # it reaches log lines and file headers; other misfits: models verify
            raise ModelCardError(f"{where}: {model_id_problem(self.model_id)}")
        if not isinstance(self.version, str) or breaks_lines(self.version):  # other misfits: models verify, import
            raise ModelCardError(f"{where}: {version_problem(self.version)}")
        if not is_integer(self.input_channels) or self.input_channels not in (1, 3):
            raise ModelCardError(f"{where}: input_channels {self.input_channels} must be 1 (CT, CBCT) or 3 (RGB).")
        self.intensity.validate(where)
        code = self.orientation.upper()
        if len(code) != 3 or sorted(_AXIS_LETTERS.get(c, -1) for c in code) != [0, 1, 2]:
            raise ModelCardError(
                f"{where}: orientation {self.orientation!r} must name three different axes, e.g. 'LPS' or 'RAS'."
            )
        if not is_integer(self.training_size) or self.training_size <= 0:
            raise ModelCardError(f"{where}: training_size {self.training_size} must be positive.")
        if not self.classes:
            raise ModelCardError(f"{where}: no classes; a model must produce at least one segment.")
        names = [class_name_key(c.name) for c in self.classes if class_name_key(c.name)]  # before each name's own
        if len(set(names)) != len(names):  # checks, the clearer message; an empty name gets its own message below
            twice = sorted({str(c.name) for c in self.classes if names.count(class_name_key(c.name)) > 1})
            raise ModelCardError(f"{where}: class names {twice} are given more than once; each class needs its own name "
                                 "(outputs and scores identify segments by name).")
        for segment in self.classes:
            segment.validate(where)
        values = [c.label_value for c in self.classes]
        if len(set(values)) != len(values):
            raise ModelCardError(f"{where}: duplicate label values {values}; each class needs its own.")
        if not (is_finite_number(self.threshold) and 0.0 < self.threshold < 1.0):
            raise ModelCardError(f"{where}: threshold {self.threshold!r} must be a number in (0, 1).")
        if self.image_resize not in IMAGE_RESIZE_MODES:
            raise ModelCardError(f"{where}: image_resize {self.image_resize!r} must be one of {list(IMAGE_RESIZE_MODES)} "
                                 "(how the training images were resized; see the Models section of README.md).")
        for key in ("task", "modality", "license", "description", "intended_use"):  # models.schema.json: strings
            if not isinstance(getattr(self, key), str):
                raise ModelCardError(f"{where}: {key} {getattr(self, key)!r} must be a string (text shown to users"
                                     + ("; the intended-use statement may not be left out" if key == "intended_use" else "")
                                     + ").")
        for key in ("training", "fast_decoder"):
            if not isinstance(getattr(self, key), dict):
                raise ModelCardError(f"{where}: {key} {getattr(self, key)!r} must be an object of named entries, e.g. "
                                     "{\"evaluated_on\": \"...\"} ({} when there is nothing to say).")
        for key in ("authors", "references"):
            if not isinstance(getattr(self, key), tuple) or not all(isinstance(item, str) for item in getattr(self, key)):
                raise ModelCardError(f"{where}: {key} {getattr(self, key)!r} must be a tuple of strings.")
        if not isinstance(self.weights, dict):
            raise ModelCardError(
                f"{where}: weights must map each weight file to its sha256, got {type(self.weights).__name__}."
            )
        for rel, digest in self.weights.items():
            if not isinstance(rel, str) or not rel or not isinstance(digest, str) or not _SHA256_RE.match(digest):
                raise ModelCardError(
                    f"{where}: weights entry {rel!r}: {digest!r} must map a relative file name to its sha256 "
                    "(64 hexadecimal digits)."
                )
            outside = _outside_folder(rel)
            if outside:
                raise ModelCardError(f"{where}: weights entry {rel!r} {outside}")

    # ------------------------------------------------------------------ helpers
    @property
    def num_network_classes(self) -> int:
        """Classes the network distinguishes: 1 for binary, else foreground classes + 1."""
        return 1 if len(self.classes) == 1 else len(self.classes) + 1

    def label_values(self) -> List[int]:
        """Label value of each network class index (index 0 = background for multi-class)."""
        if len(self.classes) == 1:
            return [0, self.classes[0].label_value]
        return [0] + [c.label_value for c in self.classes]

    def replace(self, **changes: Any) -> "ModelCard":
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ (de)serialisation
    def to_dict(self) -> dict:
        data = dataclasses.asdict(self)
        data["classes"] = [
            {**dataclasses.asdict(c), "color": list(c.color), "terminology": {k: list(v) for k, v in c.terminology.items()}}
            for c in self.classes
        ]
        if data["image_resize"] == "bilinear":  # the default: left out, so older engines still read the card
            del data["image_resize"]
        return {"format_version": MODEL_CARD_FORMAT_VERSION, **data}

    @classmethod
    def from_dict(cls, data: dict, source: str = "model card") -> "ModelCard":
        if not isinstance(data, dict):
            raise ModelCardError(f"{source}: expected a JSON object, got {type(data).__name__}.")
        data = dict(data)
        version = data.pop("format_version", MODEL_CARD_FORMAT_VERSION)
        if not is_integer(version):
            raise ModelCardError(f"{source}: format_version {version!r} must be an integer ({MODEL_CARD_FORMAT_VERSION}).")
        if version > MODEL_CARD_FORMAT_VERSION:
            raise ModelCardError(
                f"{source}: format_version {version} is newer than this engine understands; upgrade SDSegLogic."
            )
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelCardError(f"{source}: unknown keys {unknown}; known keys are {sorted(known)}.")
        if "model_id" not in data:
            raise ModelCardError(f"{source}: has no model_id; every card needs one, a short identifier such as "
                                 f"\"my-ct-model\" ({_EXAMPLE}).")
        intensity = data.get("intensity", {})
        if not isinstance(intensity, dict) or set(intensity) - {"kind", "low", "high"}:
            raise ModelCardError(f"{source}: intensity {intensity!r} must be an object with the keys kind, low and high, "
                                 "e.g. {\"kind\": \"window\", \"low\": -125, \"high\": 275}.")
        if not isinstance(data.get("classes", []), list):
            raise ModelCardError(f"{source}: classes {data['classes']!r} must be a list of objects, one per segment, "
                                 f"e.g. [{_CLASS_EXAMPLE}].")
        try:
            if "intensity" in data:
                data["intensity"] = IntensityMapping(**data["intensity"])
            data["classes"] = tuple(read_segment_class(c, i, source) for i, c in enumerate(data.get("classes", ())))
            if isinstance(data.get("weights"), dict):  # digests compare as lower-case hex (PowerShell prints upper case)
                data["weights"] = {k: v.lower() if isinstance(v, str) else v for k, v in data["weights"].items()}
            for key in ("authors", "references"):
                if key in data:  # tuple("Jane Doe") would be one author per letter
                    if not isinstance(data[key], (list, tuple)) or not all(isinstance(item, str) for item in data[key]):
                        raise ModelCardError(f"{source}: {key} {data[key]!r} must be a list of strings, "
                                             "e.g. [\"Jane Doe\"].")
                    data[key] = tuple(data[key])
            card = cls(**data, source=source)
        except ModelCardError:  # already names ``source`` (a ValueError: not a malformed entry)
            raise
        except (TypeError, ValueError, KeyError, AttributeError) as exc:
            raise ModelCardError(f"{source}: malformed entry ({exc}); {_EXAMPLE}.") from None
        return card

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def from_json(cls, path: str | Path) -> "ModelCard":
        path = Path(path)
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ModelCardError(f"{path}: no such file; a model folder needs a model_card.json.") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ModelCardError(f"{path}: not valid JSON ({exc}); restore it from the model archive.") from None
        except OSError as exc:  # a folder of that name, no permission...
            raise ModelCardError(f"{path}: cannot be read ({exc.strerror or exc}); restore it from the model archive.") from None
        return cls.from_dict(data, source=str(path))


def read_segment_class(entry: Any, index: int, source: str) -> SegmentClass:
    """``classes[index]`` of a card's JSON (or of ``sdseg-export``'s card file, ``source``) as a :class:`SegmentClass`.

    A missing or misspelt key is named, not read as a bare ``KeyError`` (``malformed entry ('name')``) or
    silently left out (``"colour"`` gave grey).
    """
    if not isinstance(entry, dict):
        raise ModelCardError(f"{source}: classes[{index}] {entry!r} must be an object such as {_CLASS_EXAMPLE}.")
    missing = [key for key in ("name", "label_value") if key not in entry]
    if missing:
        raise ModelCardError(f"{source}: classes[{index}] has no {' and no '.join(missing)}; every class needs a name and "
                             f"a label_value (1..255), e.g. {_CLASS_EXAMPLE}.")
    unknown = sorted(set(entry) - {"name", "label_value", "color", "terminology"})
    if unknown:
        raise ModelCardError(f"{source}: classes[{index}] ({entry['name']!r}) has unknown keys {unknown}; known keys are "
                             "['color', 'label_value', 'name', 'terminology'] (a misspelt key would be ignored).")
    terminology = entry.get("terminology", {})
    if not isinstance(terminology, dict):
        raise ModelCardError(f"{source}: class {entry['name']!r} terminology {terminology!r} must be an object such as "
                             "{\"type\": [\"SCT\", \"10200004\", \"Liver\"]}.")
    return SegmentClass(name=entry["name"], label_value=entry["label_value"], color=_color(entry, source),
                        terminology={k: tuple(v) if isinstance(v, list) else v for k, v in terminology.items()})


def _color(entry: dict, source: str) -> Tuple[float, ...]:
    """A class's ``color`` from JSON as floats; a string or booleans are refused, not read as numbers.

    ``float`` alone turned the string ``"100"`` into red (one number per character) and ``true`` into 1.0.

    Raises:
        ModelCardError: naming the class and the value.
    """
    color = entry.get("color", (0.5, 0.5, 0.5))
    if not isinstance(color, (list, tuple)) or not all(is_finite_number(c) for c in color):
        raise ModelCardError(f"{source}: malformed entry: class {entry.get('name')!r} color {color!r} must be a list of "
                             "three numbers in [0, 1] (red, green, blue), e.g. [0.9, 0.3, 0.2].")
    return tuple(float(c) for c in color)


def _outside_folder(rel: str) -> str:
    """Why the card's weight path ``rel`` would make a model folder read a file it does not own, or ``""``.

    A weight path is relative to the model folder. An absolute path (``/x``, ``C:\\x``, ``\\\\server\\x``,
    or a drive-relative ``C:x``) is refused; ``..`` is allowed only for the shared autoencoder
    (:data:`_SHARED_WEIGHT_NAMES`), as ``save_model_folder(shared_autoencoder=...)`` writes it.
    """
    windows = PureWindowsPath(rel)
    if PurePosixPath(rel).is_absolute() or windows.is_absolute() or windows.drive or windows.root:
        return ("is an absolute path; a model folder only reads files inside itself. List the file relative to the "
                "folder (copy it into the folder, e.g. \"unet.safetensors\").")
    if ".." in windows.parts and windows.name not in _SHARED_WEIGHT_NAMES:
        return ("points outside the model folder ('..'); only a shared autoencoder (\"../<folder>/autoencoder.safetensors\") "
                "may. Copy the file into the model folder and list it by its file name.")
    return ""
