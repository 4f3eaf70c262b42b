"""An engine's model card with malformed classes is refused, naming the field, before anything is written.

The card a (remote) engine sends in its ``info`` reply is not read by this computer's card loader
(:mod:`SDSegLogic.model_card`), which refuses a colour that is not three numbers in [0, 1], a
``classes`` that is not a list and a malformed terminology. The panel's writer took the card as it
came: ``classes`` given as one object was written as one class, a text was read as one class; a
colour of 0..255 values, two numbers, NaN or ``true`` went into the segment (Slicer clamps or
fails), a text colour ended in a bare ``ValueError``, and a terminology code of two parts or a
terminology list in a bare ``ValueError``/``AttributeError``. Now :func:`SDSegLib.remote_card.card_from_info`
answers ``protocol_error`` and :func:`SDSegLib.segmentation_writer.segment_specs` an InputError,
both naming the class and the field; a class without ``color`` is grey, as the local loader makes it.
"""

from __future__ import annotations

import pytest

from slicer_logic_helpers import manager, model_folder  # noqa: F401 - puts SDSegLib on sys.path


def _card(**liver) -> dict:
    return {"model_id": "remote-one", "version": "1.0",
            "classes": [{"name": "liver", "label_value": 1, "color": [0.8, 0.3, 0.2], **liver}]}


@pytest.mark.parametrize("classes", [{"name": "liver", "label_value": 1}, {"1": {"name": "liver", "label_value": 1}},
                                     "liver", 3])
def test_s21b_classes_that_are_no_list_are_refused(classes):
    from SDSegLib.remote_card import card_from_info
    from SDSegLib.segmentation_writer import segment_specs
    from SDSegLogic.errors import InputError
    from SDSegLogic.server.client import EngineError

    card = {"model_id": "remote-one", "classes": classes}
    with pytest.raises(EngineError, match=r"classes") as refused:
        card_from_info({"model_card": card})  # before: accepted, and written as one class
    assert refused.value.code == "protocol_error"
    with pytest.raises(InputError, match=r"'remote-one'.*classes .*not a list"):
        segment_specs(card)


BAD_COLOURS = ["red", "100", [0.5, 0.5], [0.1, 0.2, 0.3, 1.0], [255, 0, 0], [-0.1, 0.5, 0.5], [float("nan"), 0, 0],
               [True, False, False], [None, 0, 0], {"r": 1}]


@pytest.mark.parametrize("colour", BAD_COLOURS, ids=[repr(c) for c in BAD_COLOURS])
def test_s21b_a_malformed_colour_is_refused_naming_the_field(colour):
    from SDSegLib.remote_card import card_from_info
    from SDSegLib.segmentation_writer import segment_specs
    from SDSegLogic.errors import InputError
    from SDSegLogic.server.client import EngineError

    with pytest.raises(EngineError, match=r"classes\[0\] \('liver'\) has color .*three numbers in \[0, 1\]") as refused:
        card_from_info({"model_card": _card(color=colour)})
    assert refused.value.code == "protocol_error"
    with pytest.raises(InputError, match=r"classes\[0\] \('liver'\) has color"):  # before: ValueError, or written
        segment_specs(_card(color=colour))


@pytest.mark.parametrize("terminology", [["SCT", "10200004", "Liver"], {"type": ["SCT", "10200004"]}, {"type": "liver"}])
def test_s21b_a_malformed_terminology_is_refused_naming_the_field(terminology):
    from SDSegLib.remote_card import card_from_info
    from SDSegLib.segmentation_writer import segment_specs
    from SDSegLogic.errors import InputError
    from SDSegLogic.server.client import EngineError

    with pytest.raises(EngineError, match=r"classes\[0\] \('liver'\) has .*terminology"):
        card_from_info({"model_card": _card(terminology=terminology)})
    with pytest.raises(InputError, match=r"classes\[0\] \('liver'\) has .*terminology"):  # before: a bare error
        segment_specs(_card(terminology=terminology))


def test_s21b_a_well_formed_card_is_kept_and_a_missing_colour_is_grey():
    from SDSegLib.remote_card import card_from_info
    from SDSegLib.segmentation_writer import segment_specs

    card = {"model_id": "remote-one", "orientation": "LPS",
            "classes": [{"name": "liver", "label_value": 1, "color": [1, 0, 0.25],
                         "terminology": {"category": ["SCT", "123037004", "Anatomical Structure"],
                                         "type": ["SCT", "10200004", "Liver"]}},
                        {"name": "spleen", "label_value": 2}]}
    assert card_from_info({"model_card": card}) == card
    assert card_from_info({"model_card": {"orientation": "RAS"}}) == {"orientation": "RAS"}  # a card for the axis only
    liver, spleen = segment_specs(card)
    assert liver.color == (1.0, 0.0, 0.25) and "10200004" in liver.terminology
    assert spleen.color == (0.5, 0.5, 0.5)  # as SDSegLogic.model_card reads a class without a colour
