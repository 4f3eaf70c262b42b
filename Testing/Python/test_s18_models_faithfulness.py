"""Faithfulness checks against the official code that the other tests leave open.

* The official ``label_emb`` row is added to the timestep embedding AFTER its MLP (LDM
  ``openaimodel.UNetModel.forward``: ``emb = time_embed(t_emb) + label_emb(y)``); checked on a tiny
  real UNet against an independent rewrite (the row folded into the MLP's last bias).
* The official key list of a 9-class checkpoint WITH its EMA copy (``model_ema.<flattened>``)
  converts completely: every key used, nothing unexpected, every shape equal to our modules'.
"""

from __future__ import annotations

from pathlib import Path

import torch

from SDSegLogic.config import UNetConfig, preset
from SDSegLogic.importers import convert_official_state
from SDSegLogic.models import SDSegModel

from engine_test_helpers import tiny_model

KEYS_TSV = Path(__file__).resolve().parents[1] / "Data" / "sdseg-checkpoint-keys.tsv"


def test_class_embedding_is_added_to_the_time_embedding_after_its_mlp():
    model = tiny_model(num_classes=3, seed=4, std=0.3)
    unet = model.unet
    gen = torch.Generator().manual_seed(0)
    sample = torch.randn(2, 8, 4, 4, generator=gen)
    t = torch.tensor([999, 999])
    with torch.no_grad():
        for label in range(3):
            got = unet(sample, t, class_labels=torch.tensor([label, label])).sample
            reference = tiny_model(num_classes=3, seed=4, std=0.3).unet  # the same weights
            reference.class_embedding.weight.zero_()
            reference.time_embedding.linear_2.bias += unet.class_embedding.weight[label]
            want = reference(sample, t, class_labels=torch.tensor([0, 0])).sample
            assert torch.allclose(got, want, atol=1e-5)
        other = unet(sample, t, class_labels=torch.tensor([1, 1])).sample
        assert not torch.allclose(got, other, atol=1e-3)  # the class changes the prediction


def test_nine_class_key_list_with_ema_converts_completely():
    rows = [line.split("\t") for line in KEYS_TSV.read_text().splitlines() if line and not line.startswith("#")]
    shapes = {key: tuple(int(x) for x in shape.strip("()").split(",") if x.strip()) for key, shape in rows}
    assert shapes["model.diffusion_model.label_emb.weight"] == (9, 768)
    state = {key: torch.empty(shape, device="meta") for key, shape in shapes.items()}
    state["scale_factor"] = torch.tensor(0.1147)
    for key in [k for k in shapes if k.startswith("model.diffusion_model.")]:
        state["model_ema.diffusion_model" + key[len("model.diffusion_model."):].replace(".", "")] = state[key]
    state["model_ema.decay"], state["model_ema.num_updates"] = torch.tensor(0.9999), torch.tensor(7)
    config, parts, report = convert_official_state(state)
    assert report.used_ema and report.num_classes == 9 and report.unexpected_keys == []
    assert config.unet.num_classes == 9 and abs(config.scale_factor - 0.1147) < 1e-6
    base = preset("paper")
    with torch.device("meta"):
        ours = SDSegModel(base.replace(unet=UNetConfig(**{**base.unet.__dict__, "num_classes": 9})))
    for name, part in parts.items():
        expected = {k: tuple(v.shape) for k, v in ours.component(name).state_dict().items()}
        assert {k: tuple(v.shape) for k, v in part.items()} == expected, name
