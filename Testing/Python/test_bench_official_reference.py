"""The benchmark's optional OFFICIAL reference: the official LDM modules holding the engine's weights.

The official code is not part of this repository. Tests that run it need an exported tree
(``benchmarks/export_official_modules.sh DEST``) named by the environment variable
``SDSEG_OFFICIAL_LDM``; without it they are skipped. The error path for a missing tree always runs.

Run them with::

    benchmarks/export_official_modules.sh /tmp/sdseg-official
    SDSEG_OFFICIAL_LDM=/tmp/sdseg-official python -m pytest -q Testing/Python/test_bench_official_reference.py
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import torch

from SDSegLogic.config import preset
from SDSegLogic.models import SDSegModel
from SDSegLogic.pipeline import SDSegPipeline

ROOT = Path(__file__).resolve().parents[2]
BENCHMARKS = ROOT / "benchmarks"
ENV = "SDSEG_OFFICIAL_LDM"


def _bench():
    spec = importlib.util.spec_from_file_location("bench_inference", BENCHMARKS / "bench_inference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _official():
    if str(BENCHMARKS) not in sys.path:
        sys.path.insert(0, str(BENCHMARKS))
    import official_reference

    return official_reference


@pytest.fixture(scope="module")
def ldm_root() -> Path:
    """The exported official tree named by $SDSEG_OFFICIAL_LDM (skips the test when unset)."""
    value = os.environ.get(ENV)
    if not value:
        pytest.skip(f"official SDSeg code not available: export it with benchmarks/export_official_modules.sh DEST "
                    f"and set {ENV}=DEST to run this test")
    return _official().check_official_tree(Path(value))


def _model(name: str, num_classes=None, **changes) -> SDSegModel:
    """A random-weight model; scale_factor 0.2 keeps the random decoder's soft map away from 0/1."""
    config = preset(name, scale_factor=0.2, **changes)
    if num_classes is not None:
        config = config.replace(unet=config.unet.__class__(**{**config.unet.__dict__, "num_classes": num_classes}))
    torch.manual_seed(3)
    return SDSegModel(config).eval()


# ---------------------------------------------------------------------------------------------- always
def test_missing_official_tree_is_a_clear_cli_error(tmp_path, capsys):
    missing = tmp_path / "no-official-here"
    with pytest.raises(SystemExit) as info:
        _bench().main(["--smoke", "--official-ldm", str(missing), "--json", str(tmp_path / "r.json")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert str(missing) in err and "benchmarks/export_official_modules.sh" in err
    assert not (tmp_path / "r.json").exists()


def test_incomplete_official_tree_names_the_missing_files(tmp_path):
    official = _official()
    (tmp_path / "ldm").mkdir()
    (tmp_path / "ldm" / "util.py").write_text("", encoding="utf-8")
    with pytest.raises(official.OfficialCodeError, match="openaimodel.py") as info:
        official.check_official_tree(tmp_path)
    assert str(tmp_path) in str(info.value) and official.EXPORT_SCRIPT in str(info.value)


# ---------------------------------------------------------------------------------------------- official code
@pytest.mark.parametrize("name, num_classes, changes", [
    ("lite", None, {"sample_size": 64}),  # 32 GroupNorm groups: the official code unchanged
    ("tiny", 3, {}),  # 4 groups (patched in-process) and the multi-class path
])
def test_official_loop_matches_the_fp32_engine(ldm_root, name, num_classes, changes):
    official = _official()
    model = _model(name, num_classes, **changes)
    modules = official.build_official_modules(model, ldm_root)
    assert modules.groupnorm_patched == (name == "tiny")
    size = model.config.sample_size
    images = torch.rand(3, 3, size, size, generator=torch.Generator().manual_seed(5)) * 2 - 1
    theirs = official.official_reference_loop(modules, images, torch.device("cpu"), seed=0)
    ours = SDSegPipeline(model, None, device="cpu").__call__(images, seed=0).probabilities
    assert theirs.shape == ours.shape and theirs.dtype == torch.float32
    assert float((theirs - ours).abs().max()) < 1e-4
    # The comparison means something: the maps are not saturated and depend on the noise.
    assert float(((ours > 0.01) & (ours < 0.99)).float().mean()) > 0.5
    other_seed = official.official_reference_loop(modules, images, torch.device("cpu"), seed=1)
    assert float((other_seed - ours).abs().max()) > 1e-2


def test_official_schedule_matches_ours(ldm_root):
    from SDSegLogic.schedulers import NoiseSchedule

    official = _official()
    config = preset("tiny").schedule
    schedule = official.official_schedule(config, ldm_root)
    abar = NoiseSchedule(config).alphas_cumprod
    assert schedule.num_timesteps == 1000
    assert torch.allclose(schedule.sqrt_recip_alphas_cumprod.double(), (1 / abar).sqrt(), rtol=1e-6)
    assert torch.allclose(schedule.sqrt_recipm1_alphas_cumprod.double(), (1 / abar - 1).sqrt(), rtol=1e-6)


def test_benchmark_official_row(ldm_root, tmp_path, capsys):
    out = tmp_path / "result.json"
    assert _bench().main(["--smoke", "--official-ldm", str(ldm_root), "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    rows = {row["variant"]: row for row in result["rows"]}
    official_row = rows["official modules (fp32, eager, batch 1)"]
    assert official_row["softmap_max_abs_vs_fp32"] < 1e-4 and official_row["mask_dice_vs_fp32"] == 1.0
    assert official_row["speedup_vs_official"] == 1.0
    assert all("speedup_vs_official" in row for row in rows.values())
    reference = next(row for name, row in rows.items() if name.startswith("reference"))
    assert reference["speedup_vs_reference"] == 1.0
    assert result["official"]["ldm_root"] == str(ldm_root)
    commit_file = ldm_root / "COMMIT"
    if commit_file.exists():
        assert result["official"]["commit"] == commit_file.read_text().strip()
    assert "x off" in capsys.readouterr().out
