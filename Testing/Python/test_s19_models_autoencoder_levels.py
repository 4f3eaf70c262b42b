"""An LDM-layout autoencoder file loads on its own number of resolution levels.

``load_autoencoder_state`` assumed 4 levels (kl-f8) unless told otherwise, and the training
package does not tell it: a kl-f4 autoencoder (3 levels, as in the bundled demo model's
factor-4 autoencoder) had every decoder block renamed onto the wrong level, and the load failed
saying the config did not fit the weights.
"""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file

from SDSegLogic.config import AutoencoderConfig, ConditionEncoderConfig, preset
from SDSegLogic.errors import CheckpointError
from SDSegLogic.importers import load_autoencoder_state
from SDSegLogic.importers.key_maps import diffusers_vae_to_ldm
from SDSegLogic.model_folder import load_state_dict_checked
from SDSegLogic.models import SDSegModel


def _three_level_config():
    return preset("tiny").replace(
        autoencoder=AutoencoderConfig(block_out_channels=(8, 8, 8), layers_per_block=1, norm_num_groups=4),
        condition_encoder=ConditionEncoderConfig(block_out_channels=(8, 8, 8), layers_per_block=1, norm_num_groups=4))


@pytest.fixture(scope="module")
def kl_f4(tmp_path_factory):
    torch.manual_seed(0)
    model = SDSegModel(_three_level_config()).eval()
    path = tmp_path_factory.mktemp("s19ae") / "kl-f4.safetensors"
    ldm = diffusers_vae_to_ldm(model.autoencoder.state_dict(), 3)
    save_file({f"first_stage_model.{k}": v.contiguous() for k, v in ldm.items()}, str(path))
    return model, path


def test_a_three_level_ldm_autoencoder_loads_without_being_told_its_levels(kl_f4):
    model, path = kl_f4
    fresh = SDSegModel(_three_level_config()).eval()
    load_state_dict_checked(fresh.autoencoder, load_autoencoder_state(path), str(path))
    z = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        assert torch.equal(fresh.autoencoder.decode(z).sample, model.autoencoder.decode(z).sample)


def test_a_level_count_that_contradicts_the_file_is_refused_naming_both(kl_f4):
    _, path = kl_f4
    with pytest.raises(CheckpointError, match=r"has 3 resolution levels .* but 4 were asked for") as refused:
        load_autoencoder_state(path, levels=4)
    assert str(path) in str(refused.value)
