"""``sdseg models verify`` finds a folder whose config.json no longer describes its weights.

Verification read the config, the card and the sha256 of every weight file, but not what the
files hold: a folder whose ``config.json`` was edited after export (self-attention switched on at
a UNet level, or a channel count changed; the card's sha256 list covers weight files only) was
reported "OK" and exit code 0, then every load failed. The safetensors headers are now compared
with the config too (names and shapes, no tensor loaded).
"""

from __future__ import annotations

import json

import pytest
from cli_test_helpers import make_model_folder

from SDSegLogic.cli import main
from SDSegLogic.errors import WeightsMismatchError
from SDSegLogic.model_folder import load_model_folder


def _verify(folder, capsys):
    code = main(["models", "verify", str(folder)])
    return code, capsys.readouterr().out


@pytest.mark.parametrize("key, value, said", [
    ("attention_levels", [True, True], "down_blocks.1.attentions.0."),
    ("block_out_channels", [8, 24], "down_blocks.1."),
])
def test_a_folder_whose_config_does_not_fit_its_weights_fails_verification(tmp_path, capsys, key, value, said):
    folder = make_model_folder(tmp_path / "model")
    assert _verify(folder, capsys)[0] == 0
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config["unet"][key] = value
    (folder / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    with pytest.raises(WeightsMismatchError):
        load_model_folder(folder)
    code, out = _verify(folder, capsys)
    assert code != 0 and "problem" in out and said in out and "unet.safetensors" in out
    code = main(["models", "verify", str(folder), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code != 0 and not report["ok"] and len(report["problems"]) == 1 and said in report["problems"][0]
