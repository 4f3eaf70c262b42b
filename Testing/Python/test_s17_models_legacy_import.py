"""Legacy checkpoints that torch.load(weights_only=True) refuses, or whose scale_factor is not one number.

* A Lightning checkpoint holding a Python object (here a class of this module) was refused with
  torch's first line only: terminal bold codes and no word of which object was refused.
* A ``scale_factor`` of two values crashed the import with a bare ValueError; a NaN or negative one
  was refused as "configuration: ..." without naming the checkpoint.
"""

from __future__ import annotations

import pytest
import torch

from SDSegLogic.errors import CheckpointError, ConfigError
from SDSegLogic.importers.legacy_files import read_state_dict
from SDSegLogic.importers.official_checkpoint import convert_official_state


class _TrainingNote:
    """Stands for what a training run may pickle next to its weights (hyper-parameters, callback state)."""


def test_a_refused_python_object_is_named_without_terminal_codes(tmp_path):
    path = tmp_path / "run.ckpt"
    torch.save({"state_dict": {"w": torch.ones(2)}, "hyper_parameters": _TrainingNote()}, path)
    with pytest.raises(CheckpointError) as refused:
        read_state_dict(path)
    message = str(refused.value)
    assert "run.ckpt" in message and "_TrainingNote" in message and "weights_only" in message, message
    assert "\x1b" not in message and "state_dict" in message


@pytest.mark.parametrize("scale", [torch.tensor([0.2, 0.3]), torch.tensor(float("nan")), torch.tensor(-1.0)])
def test_a_scale_factor_that_is_not_one_positive_number_is_refused_naming_the_file(scale):
    state = {"scale_factor": scale, "model.diffusion_model.out.2.weight": torch.ones(1)}
    with pytest.raises((CheckpointError, ConfigError), match=r"odd\.ckpt: scale_factor (is a tensor of shape \(2,\), not "
                                                            r"one number|must be a finite number > 0)"):
        convert_official_state(state, source="odd.ckpt")


@pytest.mark.parametrize("text", ["{", "[1, 2]", "\udcff"])
def test_a_diffusers_autoencoder_folder_with_a_broken_config_is_refused_naming_it(text, tmp_path):
    from SDSegLogic.importers.autoencoder import load_autoencoder_state

    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "config.json").write_bytes(text.encode("utf-8", "surrogateescape"))
    torch.save({}, folder / "diffusion_pytorch_model.bin")
    with pytest.raises(CheckpointError, match=r"vae[/\\]config\.json: "):
        load_autoencoder_state(folder)
