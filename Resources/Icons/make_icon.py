"""Draw the SDSeg icon (128x128 RGBA): an axial CT slice whose upper-left part dissolves into
diffusion noise while the rest shows the clean segmentation overlay (liver, heart, kidney).

Usage (deterministic; Pillow + NumPy)::

    python Resources/Icons/make_icon.py Resources/Icons/SDSeg.png SDSegExtension/Resources/Icons/SDSeg.png
"""

from __future__ import annotations

import sys

import numpy as np
from PIL import Image, ImageDraw

S = 128
SS = 4 * S  # supersample
rng = np.random.default_rng(7)
img = Image.new("RGBA", (SS, SS), (0, 0, 0, 0))
d = ImageDraw.Draw(img)
# rounded-square background, deep blue
d.rounded_rectangle([8, 8, SS - 8, SS - 8], radius=88, fill=(28, 44, 78, 255))
# body (axial slice): ellipse of soft tissue
body = Image.new("L", (SS, SS), 0)
db = ImageDraw.Draw(body)
db.ellipse([44, 96, SS - 44, SS - 84], fill=255)
tissue = Image.new("RGBA", (SS, SS), (150, 150, 156, 255))
img.paste(tissue, (0, 0), body)
# spine (bright) and lungs (dark)
d.ellipse([SS // 2 - 26, SS - 170, SS // 2 + 26, SS - 118], fill=(225, 225, 225, 255))
d.ellipse([96, 150, 226, 270], fill=(70, 72, 80, 255))
d.ellipse([SS - 226, 150, SS - 96, 270], fill=(70, 72, 80, 255))
# segmentation overlay: liver (orange), heart (red), kidney (green-ish)
over = Image.new("RGBA", (SS, SS), (0, 0, 0, 0))
do = ImageDraw.Draw(over)
do.ellipse([100, 250, 262, 372], fill=(236, 124, 52, 240))
do.ellipse([226, 176, 326, 270], fill=(214, 56, 70, 240))
do.ellipse([300, 280, 392, 356], fill=(86, 190, 120, 240))
img = Image.alpha_composite(img, over)
# diffusion noise over the upper-left triangle, fading towards the diagonal
a = np.array(img).astype(np.float32)
yy, xx = np.mgrid[0:SS, 0:SS]
t = np.clip((SS * 1.0 - (xx + yy)) / (SS * 0.35), 0, 1)  # 1 far upper-left, 0 past the diagonal
noise = rng.normal(128, 70, (SS // 8, SS // 8, 3)).clip(0, 255)
noise = np.kron(noise, np.ones((8, 8, 1)))
inside = (np.array(body)[..., None] > 0)
mix = (t[..., None] * 0.9) * inside
a[..., :3] = a[..., :3] * (1 - mix) + noise * mix
img = Image.fromarray(a.clip(0, 255).astype(np.uint8), "RGBA")
# a thin white diagonal "step" line
d = ImageDraw.Draw(img)

img = img.resize((S, S), Image.LANCZOS)
for path in sys.argv[1:]:
    img.save(path)
print("ok")
