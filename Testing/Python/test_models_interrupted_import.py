"""Model imports killed mid-way or run at the same time: the cache ends with whole models and no debris.

The imports run as real child processes. A small hook in the child (a wrapped ``os.replace`` or
``verify_model_folder``) SIGKILLs it, or pauses it until the test says go, at a chosen point: just
after the installed copy was renamed aside for ``--force``, or while the staging folder is checked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cli_test_helpers import zip_folder
from engine_test_helpers import tiny_card, tiny_model

from SDSegLogic.cli_models import model_rows
from SDSegLogic.model_folder import save_model_folder, verify_model_folder
from SDSegLogic.model_zip import INSTALL_RECORD, import_zip
from SDSegLogic.registry import Registry

REPO = Path(__file__).resolve().parents[2]
HANG_GUARD_S = 300  # a child that never reaches its point fails the test instead of hanging it

pytestmark = pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL is POSIX only")

# argv: zip, home, point ("aside" or "verify"), action ("kill" or "pause"), folder of the pause flags
_CHILD = r'''
import os, signal, sys, time
from pathlib import Path
import SDSegLogic.model_folder as model_folder
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry

archive, home, point, action, flags = sys.argv[1:6]

def interrupt():
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    Path(flags, "paused").touch()
    while not Path(flags, "go").exists():
        time.sleep(0.02)

real_replace, real_verify = os.replace, model_folder.verify_model_folder

def replace(src, dst, *args, **kwargs):
    real_replace(src, dst, *args, **kwargs)
    if point == "aside" and str(dst).endswith(".old"):  # the installed copy was just renamed aside
        interrupt()

def verify(folder):
    if point == "verify":
        interrupt()
    return real_verify(folder)

os.replace, model_folder.verify_model_folder = replace, verify
import_zip(archive, Registry(), home, force=True)
'''


@pytest.fixture(scope="module")
def zips(tmp_path_factory) -> dict:
    """Three zips of ``tiny-test`` 1.0.0 with different weights (a mixed folder fails verification)."""
    root = tmp_path_factory.mktemp("zips")
    made = {}
    for seed, name in enumerate(("a", "b", "c")):
        folder = save_model_folder(root / name, tiny_model(seed=seed), tiny_card().replace(version="1.0.0"))
        made[name] = zip_folder(folder, root / f"{name}.zip")
    other = save_model_folder(root / "other", tiny_model(seed=3), tiny_card(model_id="other-model").replace(version="2.0.0"))
    made["other"] = zip_folder(other, root / "other.zip")
    return made


def _env(sdseg_home: Path) -> dict:
    return dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", ""),
                SDSEG_HOME=str(sdseg_home), PYTHONUNBUFFERED="1")


def _child(tmp_path: Path, archive: Path, home: Path, point: str, action: str) -> subprocess.Popen:
    script = tmp_path / "interrupted_import.py"
    script.write_text(_CHILD, encoding="utf-8")
    flags = tmp_path / f"flags-{archive.stem}"
    flags.mkdir()
    log = open(tmp_path / f"child-{archive.stem}.log", "wb")
    proc = subprocess.Popen([sys.executable, str(script), str(archive), str(home), point, action, str(flags)],
                            env=_env(home.parent), stdout=log, stderr=subprocess.STDOUT)
    log.close()
    return proc


def _wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + HANG_GUARD_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"hang guard: {what} did not happen")
        time.sleep(0.02)


def _paused_import(zips: dict, tmp_path: Path, point: str):
    """tiny-test 1.0.0 installed from a.zip, and import A of b.zip (--force, a child process) paused at ``point``.

    Returns (models home, A's process, A's flags folder: touch ``go`` in it to let A go on).
    """
    home = tmp_path / "sdseg" / "models"
    import_zip(zips["a"], Registry(), home)
    child = _child(tmp_path, zips["b"], home, point, "pause")
    flags = tmp_path / "flags-b"
    _wait_until(lambda: (flags / "paused").exists() or child.poll() is not None, "import A reaching its pause")
    assert child.poll() is None, (tmp_path / "child-b.log").read_text()
    return home, child, flags


def _debris(home: Path) -> list:
    """Dot-named folders an import leaves only while it runs (staging folders, copies renamed aside)."""
    return sorted(str(p.relative_to(home)) for p in home.rglob(".*") if p.is_dir())


def _installed_from(home: Path, model_id: str = "tiny-test", version: str = "1.0.0") -> str:
    folder = home / model_id / version
    assert verify_model_folder(folder) == [], f"{folder} is not one whole model"
    return json.loads((folder / INSTALL_RECORD).read_text(encoding="utf-8"))["zip"]


def test_debris_of_killed_imports_is_not_listed_and_the_next_import_clears_it(zips, tmp_path):
    home = tmp_path / "sdseg" / "models"
    import_zip(zips["a"], Registry(), home)
    for point, archive in (("aside", zips["b"]), ("verify", zips["c"])):
        child = _child(tmp_path, archive, home, point, "kill")
        assert child.wait(timeout=HANG_GUARD_S) == -signal.SIGKILL
    assert _debris(home), "the killed imports left their staging folders (what this test is about)"
    rows = {(row["id"], row["version"]) for row in model_rows(Registry(), home)}
    assert rows <= {("tiny-test", "1.0.0")}, "a staging folder or a copy renamed aside was listed as a model"

    import_zip(zips["other"], Registry(), home)  # any later import, here of another model

    assert _debris(home) == []
    # the --force import was killed after it renamed the installed copy aside: that copy is back, whole
    assert _installed_from(home) == "a.zip"
    assert _installed_from(home, "other-model", "2.0.0") == "other.zip"
    assert {(row["id"], row["version"]) for row in model_rows(Registry(), home)} == {("tiny-test", "1.0.0"),
                                                                                    ("other-model", "2.0.0")}
    import_zip(zips["c"], Registry(), home, force=True)  # and the interrupted replacement can simply be redone
    assert _installed_from(home) == "c.zip" and _debris(home) == []


def test_two_forced_imports_of_one_model_run_one_after_the_other(zips, tmp_path):
    """Process A pauses with the installed copy renamed aside; `sdseg models import --force` B starts then."""
    home, first, flags = _paused_import(zips, tmp_path, "aside")

    second_log = tmp_path / "second.log"
    with open(second_log, "wb") as log:
        second = subprocess.Popen([sys.executable, "-m", "SDSegLogic", "models", "import", str(zips["c"]), "--force"],
                                  env=_env(home.parent), cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    # B either waits for A (and says so) or, with no lock, runs to its end while A is paused
    _wait_until(lambda: second.poll() is not None or "waiting" in second_log.read_text(), "import B waiting or ending")
    (flags / "go").touch()
    first_code, second_code = first.wait(timeout=HANG_GUARD_S), second.wait(timeout=HANG_GUARD_S)

    assert first_code == 0, (tmp_path / "child-b.log").read_text()
    assert second_code == 0, second_log.read_text()
    assert _installed_from(home) == "c.zip"  # B started last, so its model is the one installed
    assert _debris(home) == []
