"""Orientation codes of direction matrices: the nearest signed axis permutation, its code, its obliquity.

A direction matrix's COLUMNS are the LPS unit vectors of voxel axes i, j, k (see
:mod:`SDSegLogic.geometry`); a code names, per voxel axis, the patient direction it points TO
(``"LPS"``: i to Left, j to Posterior, k to Superior), as ITK's ``DICOMOrient`` does.
"""

from __future__ import annotations

import itertools
import math
from typing import Optional, Tuple

import numpy as np

from .errors import GeometryError

__all__ = ["closest_axes", "orientation_code", "obliquity_degrees", "parse_orientation_code"]

#: Assignments whose summed |cosines| differ by less (a header's rounding, ~4e-4 deg at 45 deg) are tied.
_TIE_TOL = 1e-5
_POSITIVE = "LPS"
_NEGATIVE = "RAI"


def closest_axes(direction: np.ndarray, prefer: Optional[Tuple[int, int]] = None
                 ) -> Tuple[Tuple[int, int, int], Tuple[int, int, int]]:
    """Nearest signed axis permutation of a direction matrix.

    Args:
        direction: (3, 3), columns are LPS unit vectors of voxel axes i, j, k.
        prefer: ``(voxel axis, LPS axis)`` to pair when a grid lies halfway between two
            assignments (45 degrees): an assignment within 1e-5 of the best summed |cosines| (a
            header's rounding) that pairs them is taken, so the last digits of a header do not decide.

    Returns:
        ``(world_axis, sign)``: for each voxel axis c, the LPS axis (0=x, 1=y, 2=z) it is closest
        to and the sign (+1 towards L/P/S). The permutation maximises the summed |cosines|, so
        even a 45-degree oblique grid gets a unique, stable assignment.
    """
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    permutations = list(itertools.permutations(range(3)))
    score = {p: sum(abs(d[p[c], c]) for c in range(3)) for p in permutations}
    best = max(permutations, key=score.__getitem__)  # the first of equal scores: exact ties keep the order
    if prefer is not None and best[prefer[0]] != prefer[1]:
        voxel, world = prefer
        tied = [p for p in permutations if p[voxel] == world and score[p] > score[best] - _TIE_TOL]
        best = max(tied, key=score.__getitem__, default=best)
    signs = tuple(1 if d[best[c], c] >= 0 else -1 for c in range(3))
    return tuple(best), signs


def orientation_code(direction: np.ndarray, prefer: Optional[Tuple[int, int]] = None) -> str:
    """Orientation code of a direction matrix, e.g. identity -> ``"LPS"``, diag(-1,-1,1) -> ``"RAS"``."""
    axes, signs = closest_axes(direction, prefer)
    return "".join((_POSITIVE if s > 0 else _NEGATIVE)[a] for a, s in zip(axes, signs))


def obliquity_degrees(direction: np.ndarray) -> float:
    """Largest angle (degrees) between a voxel axis and the patient axis it is assigned to."""
    d = np.asarray(direction, dtype=np.float64).reshape(3, 3)
    axes, _ = closest_axes(d)
    cosines = [min(1.0, abs(float(d[axes[c], c]))) for c in range(3)]
    return max(math.degrees(math.acos(c)) for c in cosines)


def parse_orientation_code(code: str) -> Tuple[Tuple[int, int, int], Tuple[int, int, int]]:
    """Per voxel axis, the LPS axis (0=x, 1=y, 2=z) and sign (+1 towards L/P/S) a code names."""
    code = str(code).upper()
    axes, signs = [], []
    for letter in code:
        if letter in _POSITIVE:
            axes.append(_POSITIVE.index(letter))
            signs.append(1)
        elif letter in _NEGATIVE:
            axes.append(_NEGATIVE.index(letter))
            signs.append(-1)
        else:
            axes.append(-1)
    if len(code) != 3 or sorted(axes) != [0, 1, 2]:
        raise GeometryError(f"orientation code {code!r} must name three different axes, e.g. 'LPS' or 'RAS'.")
    return tuple(axes), tuple(signs)
