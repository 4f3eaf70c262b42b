"""Register the bundled SDSeg samples in the Sample Data module (needs Slicer).

The samples ship with the extension (root ``Resources/Samples``, installed next to the module's
own ``Resources`` by ``SDSegLogic/CMakeLists.txt``), so they load offline through ``file://``
URIs with SHA256 checksums, like any downloadable sample.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import List, Optional

__all__ = ["SAMPLES", "samples_folder", "register_sample_data"]

#: (sample name shown in Sample Data, file name, node name)
SAMPLES = (
    ("SDSeg CT chest-abdomen", "ct-chest-abdomen.nrrd", "SDSegCTChestAbdomen"),
    ("SDSeg fundus photo", "retina.jpg", "SDSegFundus"),
)


def samples_folder(module_dir: Path) -> Optional[Path]:
    """``Resources/Samples`` of an installed extension, or of the source checkout."""
    for candidate in (module_dir / "Resources" / "Samples", module_dir.parent / "Resources" / "Samples"):
        if candidate.is_dir():
            return candidate
    return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def register_sample_data(module_dir: Path) -> List[str]:
    """Register every bundled sample that exists; returns the sample names registered."""
    import SampleData

    folder = samples_folder(Path(module_dir))
    if folder is None:
        return []
    icon = Path(module_dir) / "Resources" / "Icons" / "SDSeg.png"
    registered = []
    for sample_name, file_name, node_name in SAMPLES:
        path = folder / file_name
        if not path.is_file():
            continue
        SampleData.SampleDataLogic.registerCustomSampleDataSource(
            category="SDSeg", sampleName=sample_name, uris=path.resolve().as_uri(), fileNames=file_name,
            nodeNames=node_name, checksums=f"SHA256:{_sha256(path)}", thumbnailFileName=str(icon),
        )
        registered.append(sample_name)
    return registered
