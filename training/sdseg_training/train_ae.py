"""``python -m sdseg_training.train_ae CONFIG.yaml [overrides]``: stage 1 (the mask autoencoder)."""

from __future__ import annotations

import sys

from .cli import train_ae_main

if __name__ == "__main__":
    sys.exit(train_ae_main())
