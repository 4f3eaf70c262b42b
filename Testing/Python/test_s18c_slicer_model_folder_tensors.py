""""Use model folder..." refuses a folder whose weights do not fit its config.json, naming the tensor.

The panel's folder check (``model_library.check_model_folder``) read the config, the card and
every weight file's sha256, but not what the files hold: a ``config.json`` edited after export
(self-attention switched on at a UNet level; the card's sha256 list covers weight files only) was
accepted and selected, and every Segment then failed when the engine loaded it. ``sdseg models
verify`` compares the safetensors headers with the config; the panel now does the same (in a
worker thread, :mod:`SDSegLib.gui_wait`), with a dialog naming the file and the tensor.

Real tiny model folder, real .ui (PySide6 offscreen), ``Testing/Slicer/fake_slicer.py``.
"""

from __future__ import annotations

import json
import shutil

import pytest

from slicer_logic_helpers import manager  # noqa: F401 - puts SDSegLib on sys.path

SAID = "down_blocks.1.attentions.0."  # a tensor the edited config asks for and the weights lack


def _edited_copy(tiny_model, folder):
    """A copy of the tiny model whose config.json switches on attention at the second UNet level."""
    copy = shutil.copytree(tiny_model, folder).resolve()
    config = json.loads((copy / "config.json").read_text(encoding="utf-8"))
    config["unet"]["attention_levels"] = [True] * len(config["unet"]["block_out_channels"])
    (copy / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return copy


def test_check_model_folder_names_the_tensor(tiny_model, tmp_path):
    from SDSegLib.model_library import check_model_folder
    from SDSegLogic.errors import WeightsMismatchError

    assert check_model_folder(tiny_model) == str(tiny_model.resolve())
    copy = _edited_copy(tiny_model, tmp_path / "edited")
    with pytest.raises(WeightsMismatchError) as refused:  # before: accepted, its spec returned
        check_model_folder(copy)
    assert SAID in str(refused.value) and str(copy) in str(refused.value) and "unet" in str(refused.value)
    assert "installed" not in str(refused.value)  # nothing is installed here: the folder is just not used


def test_use_model_folder_shows_the_tensor_and_keeps_the_selection(sdseg, tiny_model, tmp_path):
    fake, widget = sdseg
    p, combo = widget._parameterNode, widget.ui.modelComboBox
    before = p.modelId
    copy = _edited_copy(tiny_model, tmp_path / "edited-model")
    widget.useModelFolder(str(copy))  # what "Use model folder..." does with the chosen folder
    assert fake.errors and "not a usable SDSeg model" in fake.errors[-1] and SAID in fake.errors[-1], fake.errors
    assert p.modelId == before and combo.findData(str(copy)) < 0  # before: selected, and every run failed
    assert widget.ui.useModelFolderButton.enabled
    good = shutil.copytree(tiny_model, tmp_path / "good-model").resolve()
    widget.useModelFolder(str(good))
    assert p.modelId == str(good) and len(fake.errors) == 1


pytest.importorskip("PySide6.QtWidgets")
from slicer_test_helpers import app, engines, sdseg, tiny_model  # noqa: E402,F401

