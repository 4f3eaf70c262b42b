"""``sdseg models ...`` and ``sdseg info``: the model registry and the environment, for people and scripts.

Every command prints a short human-readable report, or one JSON document with ``--json`` (ASCII:
other characters as ``\\u`` escapes). Report lines go through :meth:`Reporter.write`, so a title,
class name or path that stdout's encoding cannot spell is escaped instead of failing the command.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path
from typing import Dict, List, Optional

from .class_names import class_name_key
from .cli import EXIT_MODEL, EXIT_OK, OutputError, UsageError
from .cli_report import Reporter
from .errors import SDSegError
from .registry import Registry, RegistryEntry, ResolvedModel, installed_folder, installed_versions, models_home, resolve_model

__all__ = ["run_models", "run_info", "model_rows", "environment_report"]


def _print_json(data) -> None:
    Reporter.write(sys.stdout, json.dumps(data, indent=2, default=str) + "\n")


def _say(*lines: str) -> None:
    """Report lines on stdout; characters its encoding lacks are escaped (:meth:`Reporter.write`)."""
    Reporter.write(sys.stdout, "".join(line + "\n" for line in lines))


def model_rows(registry: Registry, home: Optional[Path] = None) -> List[Dict[str, object]]:
    """One row per registry entry plus one per cached model the registry does not list."""
    rows = []
    listed = set()
    for entry in registry.entries:
        cached = installed_folder(entry.id, entry.version, home) is not None  # the version in any letter case
        bundled = registry.bundled_folder(entry)
        if cached:
            status = "installed"
        elif bundled is not None and bundled.is_dir():
            status = "bundled"
        elif entry.path:
            status = "missing (bundled folder absent)"
        else:
            status = "not installed (download the zip, then 'sdseg models import')"
        rows.append({"id": entry.id, "version": entry.version, "title": entry.title, "modality": entry.modality,
                     "classes": list(entry.classes), "status": status, "deprecated": entry.deprecated,
                     "size_bytes": entry.size_bytes, "url": entry.url, "sha256": entry.sha256})
        listed.add((entry.id, entry.version.lower()))
    root = Path(home) if home is not None else models_home()
    if root.is_dir():
        for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for version in installed_versions(folder.name, root):
                if (folder.name, version.lower()) not in listed:
                    rows.append({"id": folder.name, "version": version, "title": "(not in the registry)", "modality": "",
                                 "classes": [], "status": "installed", "deprecated": False, "size_bytes": None,
                                 "url": None, "sha256": None})
    return rows


def _card_summary(resolved: ResolvedModel) -> Optional[dict]:
    from .errors import ModelCardError
    from .model_card import ModelCard

    try:
        card = ModelCard.from_json(resolved.folder / "model_card.json")
    except ModelCardError as exc:
        return {"error": str(exc)}
    return {
        "model_id": card.model_id, "version": card.version, "task": card.task, "modality": card.modality,
        "input_channels": card.input_channels, "intensity": card.intensity.__dict__, "orientation": card.orientation,
        "training_size": card.training_size, "license": card.license, "intended_use": card.intended_use,
        "classes": [{"name": c.name, "label_value": c.label_value} for c in card.classes],
        "weights": dict(card.weights),
    }


def _info(spec: str, registry: Registry, as_json: bool) -> int:
    from .registry import ModelNotFoundError, ModelsHomeError

    model_id, _, version = spec.partition("@")
    entry, other = registry.get(model_id, version or None), None
    try:
        resolved: Optional[ResolvedModel] = resolve_model(spec, registry)
    except ModelNotFoundError as exc:
        if entry is None or isinstance(exc, ModelsHomeError):  # an unusable cache setting is no "not installed"
            raise
        resolved, reason = None, str(exc)
    else:  # the registry's newest entry describes another version when the resolved one is not listed: kept apart
        entry, other = resolved.entry, (entry if resolved.entry is None else None)
        reason = None
    data = {
        "registry_entry": _entry_json(entry),
        "registry_other_version": _entry_json(other),  # the id's registry entry when it describes another version
        "installed": None if resolved is None else {"folder": str(resolved.folder), "source": resolved.source},
        "model_card": None if resolved is None else _card_summary(resolved),
        "not_installed_reason": reason,
    }
    data["warnings"] = _class_warnings(entry, data["model_card"])
    card_broken = resolved is not None and "error" in data["model_card"]  # exit 4 with or without --json
    if as_json:
        _print_json(data)
        return EXIT_MODEL if card_broken else EXIT_OK
    if entry is not None:
        _say(f"{entry.id} {entry.version}: {entry.title}")
        _say(f"  task: {entry.task}; modality: {entry.modality}; licence: {entry.license}")
        _say(f"  classes: {', '.join(entry.classes)}")
        if entry.url:
            _say(f"  download: {entry.url}  sha256 {entry.sha256}")
    if resolved is None:
        _say(f"  not installed: {reason}")
        return EXIT_OK
    card = data["model_card"]
    listed = "not in the registry" if other is None else f"the registry describes version {other.version}, not this one"
    if entry is None and "error" not in card:  # a folder or version the registry does not list: the card says what it is
        _say(f"{card['model_id']} {card['version']}: {card['task'] or '(the card gives no task)'} ({listed})")
        _say(f"  modality: {card['modality']}; licence: {card['license']}")
    elif other is not None:  # a broken card: at least say that the registry's entry is no description of this folder
        _say(f"{other.id} (resolved version {resolved.version or 'unknown'}; {listed})")
    _say(f"  folder: {resolved.folder} ({resolved.source})")
    if "error" in card:
        _say(f"  model card: {card['error']}")
        return EXIT_MODEL
    _say(f"  model card: {card['model_id']} {card['version']}, {card['input_channels']} channel(s), "
          f"intensity {_intensity_text(card['intensity'])}, slices {card['training_size']} px, orientation {card['orientation']}")
    segments = ", ".join(f"{c['label_value']}={c['name']}" for c in card["classes"])
    _say(f"  segments: {segments}")
    for warning in data["warnings"]:
        _say(f"  warning: {warning}")
    _say(f"  intended use: {card['intended_use']}")
    return EXIT_OK


def _entry_json(entry: Optional[RegistryEntry]) -> Optional[dict]:
    """A registry entry's fields for ``--json`` (empty ones left out), or None."""
    return None if entry is None else {k: v for k, v in entry.__dict__.items() if v not in (None, (), "")}


def _class_warnings(entry: Optional[RegistryEntry], card: Optional[dict]) -> List[str]:
    """A sentence when the registry lists other classes than the installed card segments (a stale entry), else none."""
    if entry is None or not card or "error" in card:
        return []
    produced = [c["name"] for c in card["classes"]]
    if [class_name_key(n) for n in entry.classes] == [class_name_key(n) for n in produced]:
        return []
    return [f"the registry lists the classes {list(entry.classes)} but the model card segments {produced}; the card is what "
            "the model writes: correct the registry entry's classes (Resources/models.json or $SDSEG_REGISTRY)."]


def _intensity_text(intensity: dict) -> str:
    """The card's intensity mapping for people: ``window [-125, 275]``, not a Python dict (``rgb`` has no bounds)."""
    if intensity["kind"] == "window":
        return f"window [{intensity['low']:g}, {intensity['high']:g}]"
    return {"rgb": "rgb (8-bit colour)", "minmax": "min-max per image"}.get(intensity["kind"], str(intensity["kind"]))


def run_models(args: argparse.Namespace) -> int:
    """``sdseg models list|info|verify|import``; returns the exit code."""
    from .model_folder import verify_model_folder
    from .model_zip import InsufficientSpaceError, import_zip

    registry = Registry.load()
    action = args.models_command
    if action == "list":
        rows = model_rows(registry)
        if args.json:
            _print_json({"registry": str(registry.path) if registry.path else None, "cache": str(models_home()), "models": rows})
            return EXIT_OK
        _say(f"registry: {registry.path or '(none found; set SDSEG_REGISTRY)'}\ncache:    {models_home()}")
        if not rows:
            _say("no models known.")
        for row in rows:
            flag = " [deprecated]" if row["deprecated"] else ""
            _say(f"  {row['id']:<28} {row['version']:<9} {row['status']}{flag}\n      {row['title']}")
        return EXIT_OK
    if action == "info":
        return _info(args.model, registry, args.json)
    if action == "verify":
        resolved = resolve_model(args.model, registry)
        problems = verify_model_folder(resolved.folder) or _tensor_problems(resolved.folder)
        if args.json:
            _print_json({"folder": str(resolved.folder), "ok": not problems, "problems": problems})
        elif problems:
            _say(f"{resolved.folder}: {len(problems)} problem(s):")
            for problem in problems:
                _say(f"  - {problem}")
        else:
            _say(f"{resolved.folder}: OK (config, model card, sha256 of every weight file, tensor names and shapes)")
        return EXIT_MODEL if problems else EXIT_OK
    if action == "import":
        try:
            resolved = import_zip(args.zip, registry, force=args.force, expected_sha256=args.sha256,
                                  on_wait=lambda message: Reporter.write(sys.stderr, f"sdseg: {message}\n"))
        except InsufficientSpaceError as exc:  # a full disk is an output error, as when it fills during unpacking
            raise OutputError(str(exc)) from None
        except OSError as exc:
            if isinstance(exc, SDSegError):
                raise
            raise OutputError(f"cannot install into {models_home()}: {exc}; check that the folder is writable and the "
                              "disk has space (set SDSEG_HOME to use another folder).") from None
        if args.json:
            _print_json({"model_id": resolved.model_id, "version": resolved.version, "folder": str(resolved.folder)})
        else:
            _say(f"installed {resolved.model_id} {resolved.version} in {resolved.folder}")
        return EXIT_OK
    raise UsageError("sdseg models: choose an action: list, info ID, verify ID|DIR or import ZIP.")


def _tensor_problems(folder: Path) -> List[str]:
    """Where the weight files' tensor names or shapes (safetensors headers) differ from ``config.json``.

    A ``config.json`` edited after export keeps every sha256 valid (the card lists weight files only),
    yet no load succeeds; the zip import refuses such a folder, ``verify`` reports it.
    """
    from .errors import CheckpointError
    from .weight_shapes import check_folder_shapes

    try:
        check_folder_shapes(folder, outcome="The folder was left as it is.")
    except CheckpointError as exc:  # WeightsMismatchError, or a header that cannot be read
        return [str(exc)]
    return []


def _memory_gib() -> Dict[str, Optional[float]]:
    try:
        import psutil

        vm = psutil.virtual_memory()
        return {"total_gib": round(vm.total / 2**30, 2), "available_gib": round(vm.available / 2**30, 2)}
    except ImportError:
        pass
    try:
        fields = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines() if ":" in line)
        kib = {k: int(v.split()[0]) for k, v in fields.items() if k in ("MemTotal", "MemAvailable")}
        return {"total_gib": round(kib["MemTotal"] / 2**20, 2), "available_gib": round(kib.get("MemAvailable", 0) / 2**20, 2)}
    except (OSError, KeyError, ValueError):
        return {"total_gib": None, "available_gib": None}


def environment_report() -> dict:
    """Versions of Python and the engine's dependencies, devices and memory."""
    from importlib import metadata

    from . import __version__

    versions: Dict[str, Optional[str]] = {"python": platform.python_version(), "SDSegLogic": __version__}
    for dist in ("torch", "diffusers", "monai", "SimpleITK", "numpy", "safetensors", "pynrrd", "slicerio"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            versions[dist] = None
    try:
        home = str(models_home())
    except SDSegError as exc:  # a relative $SDSEG_HOME: reported here, refused where models are used
        home = f"(unusable: {exc})"
    report = {"versions": versions, "platform": platform.platform(), "cpu_count": os.cpu_count(),
              "memory": _memory_gib(), "models_home": home}
    try:
        import torch

        from .device import describe_devices, resolve_device

        report["device_auto"] = str(resolve_device("auto"))
        report["devices"] = describe_devices()
        report["torch_threads"] = torch.get_num_threads()
    except ImportError as exc:
        report["device_auto"] = None
        report["devices"] = {"error": f"torch is not importable ({exc}); install torch to segment."}
    return report


def run_info(args: argparse.Namespace) -> int:
    """``sdseg info``; returns the exit code."""
    report = environment_report()
    if args.json:
        _print_json(report)
        return EXIT_OK
    versions = ", ".join(f"{k} {v or 'not installed'}" for k, v in report["versions"].items())
    _say(f"versions: {versions}")
    _say(f"platform: {report['platform']}; {report['cpu_count']} CPU(s)")
    mem = report["memory"]
    _say(f"memory:   {mem['total_gib']} GiB total, {mem['available_gib']} GiB available")
    devices = report["devices"]
    _say(f"device:   auto -> {report['device_auto']}")
    if "error" in devices:
        _say(f"          {devices['error']}")
        return EXIT_OK
    for gpu in devices.get("cuda", []):
        _say(f"          cuda:{gpu['index']} {gpu['name']}: {gpu['total_gib']} GiB, {gpu['free_gib']} GiB free")
    if not devices.get("cuda"):
        _say("          no CUDA GPU found; segmentation runs on the CPU.")
    _say(f"models:   {report['models_home']}")
    return EXIT_OK
