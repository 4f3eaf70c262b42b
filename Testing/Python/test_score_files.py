"""``sdseg score`` reads segmentation files other tools and older Slicer versions wrote."""

from __future__ import annotations

import nrrd
import numpy as np

from SDSegLogic.cli_score import score_files
from SDSegLogic.geometry import ImageGeometry
from SDSegLogic.io.label_files import read_label_volume
from test_score import write_labelmap


def test_a_seg_nrrd_of_slicer_4_10_has_one_layer_per_segment(tmp_path):
    """Slicer <= 4.10 wrote each segment as one volume of the list axis, value 1, with no _Layer/_LabelValue."""
    masks = np.zeros((2, 6, 7, 8), np.uint8)  # (segment, I, J, K) in Fortran order, overlapping segments
    masks[0, 1:4, 1:4, 1:4] = 1
    masks[1, 2:6, 2:6, 2:6] = 1
    header = {"space": "left-posterior-superior", "space origin": np.zeros(3),
              "kinds": ["list", "domain", "domain", "domain"],
              "space directions": np.vstack([np.full(3, np.nan), np.diag([0.7, 0.7, 2.0])])}
    for n, name in enumerate(["liver", "tumour"]):
        header.update({f"Segment{n}_ID": f"Segment_{n}", f"Segment{n}_Name": name,
                       f"Segment{n}_Color": "0.5 0.5 0.5", f"Segment{n}_Extent": "0 5 0 6 0 7"})
    path = tmp_path / "old.seg.nrrd"
    nrrd.write(str(path), masks, header, index_order="F")
    volume = read_label_volume(path)
    assert [(s.name, s.value, s.layer) for s in volume.segments] == [("liver", 1, 0), ("tumour", 1, 1)]
    for segment, mask in zip(volume.segments, masks):
        np.testing.assert_array_equal(volume.mask(segment), mask.transpose(2, 1, 0) > 0)
    grid = ImageGeometry((0.7, 0.7, 2.0), (0.0, 0.0, 0.0), np.eye(3), (6, 7, 8))
    labels = np.maximum(masks[0], 2 * masks[1]).transpose(2, 1, 0)
    report = score_files(str(path), str(write_labelmap(tmp_path / "ref.nrrd", labels, grid)), ["liver=1", "tumour=2"])
    assert report["segments"][1]["dice"] == 1.0
