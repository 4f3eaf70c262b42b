"""The panel's model list is filled when part of the models folder cannot be read, and says what was left out.

On a shared workstation ``$SDSEG_HOME`` may be a shared folder: another user's imported model folder
in it (mode 700), or the whole models folder, cannot be read by this user. Listing it raised
PermissionError out of ``SDSegModuleLogic.modelChoices`` (what the panel's model combo box is filled
from), so the panel could not be set up and no model at all was offered. Now the other models are
listed, an unreadable model folder is an item "(cannot be read)" whose tooltip says why (Segment is
disabled for it), and a models folder that cannot be listed is named in the status log.

Tests run as root, which reads past any permission: the listing runs in a forked child that has
dropped to the unprivileged user ``nobody`` (a real permission check by the kernel, nothing mocked).
The last test fills the real panel (``Testing/Slicer/fake_slicer.py``; 3D Slicer cannot be installed
here) over the entries root itself cannot use: a file, a dangling symlink, a FIFO, a model whose
config and card are not JSON.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from slicer_logic_helpers import model_folder  # noqa: F401 - pytest fixture; puts SDSegLib on sys.path

try:
    from slicer_test_helpers import app  # noqa: F401 - pytest fixture (needs PySide6): the last test's QApplication
except pytest.skip.Exception:  # no PySide6: the panel test skips itself
    pass

NOBODY = 65534


def _as_nobody(work):
    """``work()`` in a forked child running as ``nobody`` (as this user when not root): its JSON result or error."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop root, run, report, exit without running pytest's clean-up
        os.close(read)
        try:
            if os.getuid() == 0:
                os.setgroups([])
                os.setgid(NOBODY)
                os.setuid(NOBODY)
            out = {"result": work()}
        except BaseException as exc:  # noqa: BLE001 - reported to the parent
            out = {"error": f"{type(exc).__name__}: {exc}"}
        os.write(write, json.dumps(out).encode("utf-8"))
        os._exit(0)
    os.close(write)
    data = b""
    while True:
        chunk = os.read(read, 1 << 16)
        if not chunk:
            break
        data += chunk
    os.close(read)
    os.waitpid(pid, 0)
    return json.loads(data.decode("utf-8"))


@pytest.fixture
def shared_home(monkeypatch, model_folder):
    """A world-readable ``$SDSEG_HOME`` whose models folder holds tiny-two 0.0.1 and another user's private model."""
    import fake_slicer

    fake_slicer.install(monkeypatch)
    base = Path(tempfile.mkdtemp(prefix="sdseg-shared-"))
    models = base / "home" / "models"
    card = json.loads((model_folder / "model_card.json").read_text(encoding="utf-8"))
    shutil.copytree(model_folder, models / card["model_id"] / card["version"])
    shutil.copytree(model_folder, models / "private-model" / card["version"])
    for folder, dirs, files in os.walk(base):
        os.chmod(folder, 0o755)
        for name in files:
            os.chmod(Path(folder) / name, 0o644)
    os.chmod(models / "private-model", 0o000)  # another user's folder: nobody else may read it
    monkeypatch.setenv("SDSEG_HOME", str(base / "home"))
    yield models, card
    os.chmod(models / "private-model", 0o755)
    shutil.rmtree(base)


def _choices():
    from SDSegLib.module_logic import SDSegModuleLogic

    logic = SDSegModuleLogic()
    return {"choices": [[c.spec, c.text, c.found, c.tooltip] for c in logic.modelChoices()], "log": logic.drainLog()}


def test_an_unreadable_model_folder_leaves_the_other_models_listed(shared_home):
    models, card = shared_home
    _choices()  # imports what the listing imports, before the fork
    out = _as_nobody(_choices)
    assert "error" not in out, out["error"]  # before: PermissionError out of modelChoices
    items = {spec: (text, found, tip) for spec, text, found, tip in out["result"]["choices"]}
    assert items[card["model_id"]] == (f"{card['model_id']} (v{card['version']}, imported)", True,
                                       str(models / card["model_id"] / card["version"]))
    text, found, tip = items["private-model"]
    assert text == "private-model (cannot be read)" and not found
    assert str(models / "private-model") in tip and "Permission denied" in tip, tip


def test_an_unreadable_models_folder_is_named_and_the_registry_models_stay(shared_home):
    from SDSegLogic.registry import Registry

    models, _ = shared_home
    os.chmod(models, 0o700)  # the whole models folder is another user's
    try:
        _choices()
        out = _as_nobody(_choices)
    finally:
        os.chmod(models, 0o755)
    assert "error" not in out, out["error"]  # before: PermissionError out of modelChoices
    assert [spec for spec, *_ in out["result"]["choices"]] == Registry.load().ids()
    log = "\n".join(out["result"]["log"])
    assert f"The models folder {models} cannot be read" in log and "Permission denied" in log, log


def test_the_panel_lists_a_model_next_to_entries_that_are_no_model(request, monkeypatch, tmp_path):
    """Runs before and after the fix alike: these entries were already skipped (shown here through the panel)."""
    pytest.importorskip("PySide6.QtWidgets")
    request.getfixturevalue("app")  # the QApplication (module-scoped fixture of slicer_test_helpers)
    import fake_slicer
    from engine_fixtures import make_tiny_model
    from slicer_test_helpers import load_ui

    models = tmp_path / "home" / "models"
    make_tiny_model(models / "tiny-good" / "0.0.1", model_id="tiny-good")
    (models / "a-file").write_text("not a folder", encoding="utf-8")
    (models / "dangling").symlink_to(tmp_path / "gone")
    os.mkfifo(models / "a-fifo")
    bad = shutil.copytree(models / "tiny-good" / "0.0.1", models / "garbage" / "1.0.0")
    (bad / "config.json").write_text("{ not json", encoding="utf-8")
    (bad / "model_card.json").write_text("[1, 2", encoding="utf-8")
    (models / "loop").symlink_to(models / "loop")
    monkeypatch.setenv("SDSEG_HOME", str(tmp_path / "home"))
    fake = fake_slicer.install(monkeypatch, load_ui)
    import SDSeg

    widget = SDSeg.SDSegWidget()
    widget.setup()
    try:
        combo = widget.ui.modelComboBox
        specs = [combo.itemData(i) for i in range(combo.count)]
        assert "tiny-good" in specs and not {"a-file", "dangling", "a-fifo", "loop"} & set(specs), specs
        combo.setCurrentIndex(combo.findData("garbage"))  # listed (cheap check); choosing it must not break the panel
        assert widget._parameterNode.modelId == "garbage" and not fake.errors, fake.errors
    finally:
        widget._timer.stop()
        widget.removeObservers()
