"""A noise schedule whose betas are both 0 is refused: it adds no noise, so the model's output is ignored.

With ``beta_start = beta_end = 0`` (or ``beta_start = 0`` and one timestep) every abar_t is exactly 1:
the sampler's latent estimate z0 = sqrt(1/abar) z_t - sqrt(1/abar - 1) eps is the initial noise itself (the UNet's prediction is
multiplied by 0), for one step and for DDIM alike. Such a config loaded and segmented without a
word, giving the same "segmentation" for every image. It is now refused when the config is built
or read, naming the file, both values and the paper's values.
"""

from __future__ import annotations

import json

import pytest
from engine_test_helpers import tiny_card, tiny_config, tiny_model, random_slices

from SDSegLogic.config import ScheduleConfig, SDSegConfig
from SDSegLogic.errors import ConfigError
from SDSegLogic.pipeline import SDSegPipeline
from SDSegLogic.schedulers import NoiseSchedule


@pytest.mark.parametrize("schedule", [ScheduleConfig(beta_start=0.0, beta_end=0.0),
                                      ScheduleConfig(beta_start=0.0, beta_end=0.0, beta_schedule="linear"),
                                      ScheduleConfig(beta_start=0.0, beta_end=0.0155, num_train_timesteps=1)])
def test_a_schedule_without_noise_is_refused_naming_the_values(schedule):
    assert float(NoiseSchedule(schedule).alphas_cumprod[-1]) == 1.0  # what the refusal is about: no noise at all
    with pytest.raises(ConfigError) as caught:
        tiny_config().replace(schedule=schedule)
    text = str(caught.value)
    assert "beta_start" in text and "beta_end" in text and "0.0015" in text and "0.0155" in text


def test_config_json_with_such_a_schedule_is_refused_naming_the_file(tmp_path):
    data = tiny_config().to_dict()
    data["schedule"] = {**data["schedule"], "beta_start": 0.0, "beta_end": 0.0}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(ConfigError, match="beta_start") as caught:
        SDSegConfig.from_json(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize("start, end", [(0.0, 0.0155), (0.0015, 0.0)])
def test_one_zero_beta_still_noises_and_the_output_follows_the_image(start, end):
    model = tiny_model(seed=0)
    config = model.config.replace(schedule=ScheduleConfig(beta_start=start, beta_end=end))
    model.config = config  # the same weights under the schedule being checked
    model_schedule = NoiseSchedule(config.schedule)
    assert float(model_schedule.alphas_cumprod[-1]) < 1.0
    pipe = SDSegPipeline(model, tiny_card(), device="cpu")
    images = random_slices(2, seed=3)
    a = pipe(images, seed=0, num_inference_steps=2).probabilities
    b = pipe(images * 0 + 0.5, seed=0, num_inference_steps=2).probabilities
    assert (a - b).abs().max().item() > 0
