"""``sdseg``: start-up cost, usage and input/model errors, exit codes, the models and info commands.

End-to-end segmentation runs are in ``test_cli_segment.py``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_test_helpers import copy_model, entry, make_model_folder, write_registry, zip_folder

from SDSegLogic.cli import EXIT_CODES, exit_code_for, main, parse_slices
from SDSegLogic.errors import CancelledError, CheckpointError, GeometryError, InputError, ModelCardError

REPO = Path(__file__).resolve().parents[2]
SAMPLE_CT = REPO / "Resources" / "Samples" / "ct-chest-abdomen.nrrd"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch) -> Path:
    """Every test gets its own model cache; the real ~/.sdseg is never touched."""
    home = tmp_path / "sdseg-home"
    monkeypatch.setenv("SDSEG_HOME", str(home))
    monkeypatch.delenv("SDSEG_REGISTRY", raising=False)
    return home / "models"


@pytest.fixture(scope="module")
def tiny_folder(tmp_path_factory) -> Path:
    return make_model_folder(tmp_path_factory.mktemp("model") / "tiny-test")


def run(argv, capsys):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# ---------------------------------------------------------------------- start-up
def _python(code: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120, **kwargs)


def test_cli_and_registry_import_no_heavy_packages():
    probe = _python("import sys, SDSegLogic, SDSegLogic.cli, SDSegLogic.registry, SDSegLogic.progress; "
                    "print(sorted(m for m in ('torch', 'diffusers', 'SimpleITK', 'monai', 'numpy') if m in sys.modules))")
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "[]"


def test_help_is_fast_and_documents_exit_codes():
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "SDSegLogic", "--help"], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    elapsed = time.perf_counter() - start
    assert done.returncode == 0
    assert elapsed < 1.0, f"sdseg --help took {elapsed:.2f} s"
    for code, text in EXIT_CODES.items():
        assert f"  {code}  {text}" in done.stdout


@pytest.mark.parametrize("argv", [["segment", "--help"], ["models", "--help"], ["models", "import", "--help"], ["info", "--help"]])
def test_subcommand_help_exits_zero(argv, capsys):
    code, out, _ = run(argv, capsys)
    assert code == 0 and "usage: sdseg" in out


def test_version(capsys):
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.startswith("sdseg ")


# ---------------------------------------------------------------------- usage errors (exit 2)
@pytest.mark.parametrize("text, bounds", [("10:50", (10, 50)), ("10:", (10, None)), (":7", (None, 7)), (":", (None, None))])
def test_parse_slices(text, bounds):
    assert parse_slices(text) == bounds


USAGE_CASES = {
    "slices without colon": ["--slices", "10"],
    "slices not numbers": ["--slices", "a:b"],
    "slices reversed": ["--slices", "5:2"],
    "slices negative": ["--slices=-1:3"],
    "batch size zero": ["--batch-size", "0"],
    "samples not integer": ["--samples", "two"],
    "unknown device": ["--device", "tpu"],
    "unknown option": ["--frobnicate"],
    "uncertainty with one sample": ["--uncertainty", "{tmp}/u.nrrd"],
    "prob map as seg.nrrd": ["--prob-map", "{tmp}/p.seg.nrrd"],
    "preview not png": ["--preview", "{tmp}/p.jpg"],
    "bad output extension": ["-o", "{tmp}/out.txt"],
    "output over input": ["-o", str(SAMPLE_CT)],
    "same path twice": ["--prob-map", "{tmp}/o.nrrd", "-o", "{tmp}/o.nrrd"],
}


@pytest.mark.parametrize("case", sorted(USAGE_CASES))
def test_usage_errors_exit_2_with_one_line_and_no_model_load(case, tmp_path, capsys):
    extra = [a.replace("{tmp}", str(tmp_path)) for a in USAGE_CASES[case]]
    argv = ["segment", SAMPLE_CT, "--model", tmp_path / "no-such-model"]
    if "-o" not in extra:
        argv += ["-o", tmp_path / "out.seg.nrrd"]
    code, out, err = run(argv + extra, capsys)
    assert code == 2, err
    assert err.startswith("sdseg: error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert "no-such-model" not in err  # usage is checked before the model is looked up
    assert not list(tmp_path.glob("*.nrrd")) and not list(tmp_path.glob("*.png"))


def test_several_inputs_need_a_folder_and_distinct_names(tmp_path, capsys):
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    twins = [tmp_path / "a" / "ct.nrrd", tmp_path / "b" / "ct.nii.gz"]
    for path in twins:
        path.write_bytes(b"x")
    code, _, err = run(["segment", *twins, "-o", tmp_path / "out"], capsys)
    assert code == 2 and "['ct']" in err
    code, _, err = run(["segment", SAMPLE_CT, twins[0], "-o", tmp_path / "x.seg.nrrd"], capsys)
    assert code == 2 and "must be a folder" in err


def test_json_mode_reports_usage_errors_as_an_event(tmp_path, capsys):
    code, out, err = run(["segment", SAMPLE_CT, "-o", tmp_path / "o.txt", "--json"], capsys)
    assert code == 2
    event = json.loads(out)
    assert event["event"] == "error" and event["exit_code"] == 2 and "o.txt" in event["message"]
    assert err.startswith("sdseg: error:")


def test_input_options_parse_and_validate_their_values(tmp_path, capsys):
    """--frame, --series, --nan-policy and --strict (the options error messages suggest) exist and are checked."""
    from SDSegLogic.cli import build_parser

    base = ["segment", "in.nii.gz", "-o", "o.seg.nrrd"]
    args = build_parser().parse_args(base)
    assert (args.frame, args.series, args.nan_policy, args.strict) == (None, None, "reject", False)
    args = build_parser().parse_args(base + ["--frame", "2", "--series", "1.2.3", "--nan-policy", "fill", "--strict"])
    assert (args.frame, args.series, args.nan_policy, args.strict) == (2, "1.2.3", "fill", True)
    for bad, expected in ((["--frame=-1"], "argument --frame: '-1' must be >= 0"),
                          (["--frame", "first"], "argument --frame: 'first' is not an integer"),
                          (["--nan-policy", "zero"], "argument --nan-policy: invalid choice: 'zero'")):
        code, _, err = run(["segment", SAMPLE_CT, "-o", tmp_path / "o.seg.nrrd", *bad], capsys)
        assert code == 2 and expected in err, err


def test_bad_output_paths_fail_before_the_model_loads_and_change_nothing(tmp_path, capsys):
    """Every output path is checked first: a --prob-map that is a folder (2) or under a file (6) leaves -o as it was."""
    previous = tmp_path / "o.seg.nrrd"
    previous.write_text("previous result")
    (tmp_path / "p.nrrd").mkdir()
    (tmp_path / "a-file").write_text("not a folder")
    for prob_map, code_expected, text in ((tmp_path / "p.nrrd", 2, "is an existing folder"),
                                          (tmp_path / "a-file" / "p.nrrd", 6, "a-file is a file, not a folder")):
        code, _, err = run(["segment", SAMPLE_CT, "-o", previous, "--prob-map", prob_map, "--model",
                            tmp_path / "no-such-model"], capsys)
        assert code == code_expected and text in err and str(prob_map) in err, err
        assert "no-such-model" not in err  # failed before the model was looked up
        assert previous.read_text() == "previous result"
        assert not list(tmp_path.rglob(".sdseg-*"))  # the writability probe leaves nothing behind


# ---------------------------------------------------------------------- input (3) and model (4) errors
def test_missing_input_exits_3_before_loading_the_model(tmp_path, capsys):
    code, _, err = run(["segment", tmp_path / "absent.nrrd", "-o", tmp_path / "o.seg.nrrd", "--model", tmp_path / "none"],
                       capsys)
    assert code == 3 and "absent.nrrd" in err and "Traceback" not in err


def test_unknown_model_exits_4(tmp_path, capsys):
    code, _, err = run(["segment", SAMPLE_CT, "-o", tmp_path / "o.seg.nrrd", "--model", "no-such-model"], capsys)
    assert code == 4 and "unknown model 'no-such-model'" in err


def test_absent_default_model_says_how_to_obtain_it(tmp_path, monkeypatch, capsys):
    registry = write_registry(tmp_path / "repo" / "Resources" / "models.json", [
        entry("sdseg-demo-ct-lite", "0.1.0", path="Resources/Models/sdseg-demo-ct-lite", obtain="Train it with training/."),
    ])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))
    code, _, err = run(["segment", SAMPLE_CT, "-o", tmp_path / "o.seg.nrrd"], capsys)
    assert code == 4
    assert "sdseg-demo-ct-lite" in err and "does not exist" in err and "Train it with training/." in err


@pytest.mark.parametrize("damage", ["weights", "config", "card"])
def test_corrupt_model_exits_4(damage, tiny_folder, tmp_path, capsys):
    broken = copy_model(tiny_folder, tmp_path / "broken")
    if damage == "weights":
        path = broken / "condition_encoder.safetensors"
        path.write_bytes(path.read_bytes()[:-7] + b"garbage")
    elif damage == "config":
        (broken / "config.json").write_text("{")
    else:
        (broken / "model_card.json").unlink()
    code, _, err = run(["segment", SAMPLE_CT, "-o", tmp_path / "o.seg.nrrd", "--model", broken], capsys)
    assert code == 4, err
    assert str(broken) in err and err.count("\n") == 1
    code, out, _ = run(["models", "verify", broken], capsys)
    assert code == 4 and "problem" in out


def test_debug_prints_the_traceback(tmp_path, capsys):
    code, _, err = run(["segment", SAMPLE_CT, "-o", tmp_path / "o.seg.nrrd", "--model", "nope", "--debug"], capsys)
    assert code == 4 and "Traceback" in err and "ModelNotFoundError" in err


@pytest.mark.parametrize("exc, code", [
    (InputError("x"), 3), (GeometryError("x"), 3), (ModelCardError("x"), 4), (CheckpointError("x"), 4),
    (CancelledError("x"), 5), (KeyboardInterrupt(), 5), (MemoryError(), 7), (RuntimeError("x"), 1),
])
def test_exit_code_mapping(exc, code):
    assert exit_code_for(exc) == code


# ---------------------------------------------------------------------- models and info
def test_models_list_info_verify_import(tiny_folder, tmp_path, isolated_home, monkeypatch, capsys):
    code, out, _ = run(["models", "list", "--json"], capsys)
    assert code == 0 and any(m["id"] == "sdseg-demo-ct-lite" for m in json.loads(out)["models"])  # the real registry
    registry = write_registry(tmp_path / "repo" / "Resources" / "models.json", [entry("absent-model")])
    monkeypatch.setenv("SDSEG_REGISTRY", str(registry))
    code, out, _ = run(["models", "list", "--json"], capsys)
    listed = json.loads(out)
    assert [(m["id"], m["status"]) for m in listed["models"]] == [("absent-model", "missing (bundled folder absent)")]
    assert listed["cache"] == str(isolated_home)

    archive = zip_folder(tiny_folder, tmp_path / "tiny-test-1.0.0.zip")
    code, out, _ = run(["models", "import", archive], capsys)
    assert code == 0 and str(isolated_home / "tiny-test" / "1.0.0") in out
    code, out, err = run(["models", "import", archive], capsys)
    assert code == 4 and "--force" in err
    assert run(["models", "import", archive, "--force"], capsys)[0] == 0
    code, out, _ = run(["models", "import", tmp_path / "absent.zip"], capsys)
    assert code == 3

    code, out, _ = run(["models", "list"], capsys)
    assert "tiny-test" in out and "(not in the registry)" in out
    code, out, _ = run(["models", "verify", "tiny-test"], capsys)
    assert code == 0 and "OK" in out
    code, out, _ = run(["models", "info", "tiny-test", "--json"], capsys)
    info = json.loads(out)
    assert code == 0 and info["installed"]["source"] == "cache"
    assert info["model_card"]["classes"] == [{"name": "liver", "label_value": 1}]
    code, out, _ = run(["models", "info", "absent-model"], capsys)
    assert code == 0 and "not installed" in out and "Models/absent-model does not exist" in out
    code, _, err = run(["models", "info", "nothing-like-it"], capsys)
    assert code == 4


def test_models_import_refuses_a_zip_slip_archive(tiny_folder, tmp_path, isolated_home, capsys):
    archive = zip_folder(tiny_folder, tmp_path / "evil.zip", extra=[("../../evil.txt", b"x")])
    code, _, err = run(["models", "import", archive], capsys)
    assert code == 4 and "'..'" in err
    assert not (tmp_path / "evil.txt").exists()
    assert not isolated_home.exists() or list(isolated_home.iterdir()) == []


def test_info_reports_versions_and_devices(capsys):
    code, out, _ = run(["info", "--json"], capsys)
    report = json.loads(out)
    assert code == 0
    assert report["versions"]["python"] == ".".join(map(str, sys.version_info[:3]))
    assert report["versions"]["torch"] and report["device_auto"] in ("cpu", "cuda")
    assert report["memory"]["total_gib"] > 0 and report["cpu_count"] == os.cpu_count()
    code, out, _ = run(["info"], capsys)
    assert code == 0 and "device:" in out and "torch" in out
