"""sdseg_training: train, evaluate and export SDSeg models (Lin et al., MICCAI 2024).

Stage 1 trains a KL autoencoder on masks (:mod:`.autoencoder`); stage 2 trains tau_theta and the
denoising UNet with a frozen autoencoder (:mod:`.trainer`); :mod:`.evaluate` computes Dice/IoU;
:mod:`.export` writes an engine model folder. Console commands: ``sdseg-train``,
``sdseg-train-ae``, ``sdseg-eval``, ``sdseg-export`` (:mod:`.cli`). This package imports the
engine ``SDSegLogic``; the engine never imports it.
"""

from __future__ import annotations

__version__ = "0.1.0"
