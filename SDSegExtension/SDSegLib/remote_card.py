"""The model card of a remote engine's model, for counting slice numbers along its axis.

A slice range (first/last slice, or an ROI) is sent as voxel indices along the axis the model
slices the volume across, which the model card's ``orientation`` decides (``volume_adapter.
slicing_axis``). A remote engine serves its own model, whose card is usually not on this computer
(and a local model of the same name may be another one), so the card comes from the engine's
``info`` reply (``model_card``, protocol version 1). When it names no orientation, a range is
refused rather than counted along a guessed axis.

A run reads the card in its worker thread (:func:`deferred_slices`), never in the GUI thread: an
engine that accepts the connection but does not answer would freeze Slicer until the timeout, with
Cancel unusable. It takes the card from the ``info`` reply the run asks for on its own connection
anyway (:attr:`SegmentationJob.info <SDSegLib.engine_runner.SegmentationJob.info>`): it used to open
a connection of its own first (hello, ``info``) just for the card, one more connection, token check
and round trip per run. The panel's slice count uses the card last seen (no network);
:func:`fetch_remote_card` is for a caller that has no run yet.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Optional

import numpy as np

from SDSegLogic.errors import InputError
from SDSegLogic.redact import redact_url
from SDSegLogic.server.client import EngineClient, EngineError
from SDSegLogic.server.wire_values import short_repr

from .card_classes import card_classes

__all__ = ["card_from_info", "fetch_remote_card", "remote_orientation", "range_requested", "deferred_slices"]


def fetch_remote_card(url: str, token: str, timeout: float = 10.0) -> Dict[str, Any]:
    """The model card the remote engine at ``url`` serves (``{}`` when its ``info`` reply has none).

    Opens a connection of its own (hello, ``info``), closed before returning.

    Raises:
        SDSegError: the engine cannot be reached or refuses the token (EngineError, EngineDiedError).
    """
    with EngineClient.from_url(url, token, timeout=timeout) as client:
        return card_from_info(client.info())


def card_from_info(info: Dict[str, Any]) -> Dict[str, Any]:
    """The ``model_card`` of an engine's ``info`` reply, as a dict (``{}`` when it carries none).

    Raises:
        EngineError: ``protocol_error`` when the reply's ``model_card`` is no object (a text, a
            list, a number: ``dict(card)`` raised a bare ValueError or TypeError once the run ended),
            or its ``classes`` are malformed (:func:`~SDSegLib.card_classes.card_classes`: not a
            list, a colour that is not three numbers in [0, 1]...), naming the class and the field.
    """
    card = info.get("model_card") if isinstance(info, dict) else None
    if card is None:
        return {}
    if not isinstance(card, dict):
        raise EngineError("protocol_error", f"the engine's info reply has model_card {short_repr(card)}, not an object "
                          "(its model card); update the engine and this client to the same SDSeg version.")
    try:
        card_classes(card)  # the loader's rules, which a card sent over the wire has not been held to
    except InputError as error:
        raise EngineError("protocol_error", f"the engine's info reply has a malformed model_card: {error}") from error
    return dict(card)


def range_requested(roi_node: Any, first_slice: int, last_slice: int) -> bool:
    """True when only some slices are asked for (an ROI, or slice numbers other than 0..-1)."""
    return roi_node is not None or int(first_slice) != 0 or int(last_slice) != -1


def remote_orientation(card: Dict[str, Any], url: str, needed: bool) -> Optional[str]:
    """The orientation code of a remote engine's model card (upper case), or None when unknown and not ``needed``.

    Args:
        card: the engine's ``model_card`` (:func:`fetch_remote_card`), ``{}`` when unknown.
        url: the engine's URL, named (without its secrets) in the error.
        needed: a slice range was asked for, so the axis it counts along matters.

    Raises:
        InputError: ``needed`` and the card names no orientation.
    """
    code = str(card.get("orientation") or "").strip().upper()
    if code:
        return code
    if needed:
        raise InputError(
            f"the remote engine {redact_url(url)} did not say which orientation its model's slices were cut in "
            "(its info reply has no model card orientation), so the slice numbers or region cannot be counted "
            "along the right axis. Segment every slice (First slice 0, Last slice -1, no region), or update "
            "the remote engine to this SDSeg version.")
    return None


def deferred_slices(url: str, token: str, geometry: Any, first_slice: int, last_slice: int,
                    corners: Optional[np.ndarray], cards: Dict[str, Dict[str, Any]]) -> Callable[[Any], None]:
    """The work that sets a remote run's slice range, for its worker thread (``SegmentationJob.prepare``).

    Args:
        url, token: the remote engine (named in errors, the key of ``cards``) and its token (unused now: the
            run's own connection presents it; kept so that callers need not change).
        geometry: the input's LPS grid (``ImageGeometry``), read in the GUI thread.
        first_slice, last_slice: the slice numbers asked for (inclusive; -1 = the last one).
        corners: an ROI's 8 corners (8, 3) in the volume's local RAS frame, or None.
        cards: URL -> model card last seen, updated with the card fetched (the panel's slice count).

    Returns:
        ``prepare(job)``, called by the job once its connection's ``info`` reply is in ``job.info``:
        reads the card from it (no connection of its own), sets ``job.options["slices"]`` (start,
        stop) and ``job.sliceAxis``. Raises InputError (no orientation, empty range).
    """
    from .volume_adapter import select_slices

    def prepare(job: Any) -> None:
        card = card_from_info(job.info)
        cards[url] = card
        selection = select_slices(geometry, remote_orientation(card, url, True), first_slice, last_slice, corners)
        job.options["slices"], job.sliceAxis = selection.slices, selection.axis

    return prepare
