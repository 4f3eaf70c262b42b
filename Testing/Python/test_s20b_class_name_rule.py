"""One class-name comparison rule for the card, ``sdseg models info``, export and held-out evaluation.

The card's duplicate check, ``sdseg models info`` (registry classes against the card's), the export's
class-order check and ``heldout eval``'s card check each compared names by ``strip().casefold()``,
while ``sdseg score`` pairs segment names by NFC + strip + casefold. A name typed decomposed
(NFD, as macOS may give it: ``"e" + U+0301``) and the same name composed (``"é"``) were two names
for the card and the training checks but one name for ``sdseg score``: a card could list both as
two classes (whose written segments ``sdseg score --pair`` then cannot tell apart), the export let
such a card name a run class at another place (swapped segment names), ``heldout eval`` scored
swapped classes with a warning instead of refusing, and ``models info`` warned about a stale
registry entry that names the very same classes.
"""

from __future__ import annotations

import sys
import unicodedata
from pathlib import Path

import pytest

TRAINING = Path(__file__).resolve().parents[2] / "training"
sys.path.insert(0, str(TRAINING))

from engine_test_helpers import tiny_card  # noqa: E402

from SDSegLogic.cli_score import name_key  # noqa: E402
from SDSegLogic.errors import ModelCardError  # noqa: E402
from SDSegLogic.model_card import SegmentClass  # noqa: E402
from SDSegLogic.registry import RegistryEntry  # noqa: E402

COMPOSED = "Ösophagus"  # U+00D6
DECOMPOSED = unicodedata.normalize("NFD", COMPOSED)  # "O" + U+0308


def _classes(*names):
    return tuple(SegmentClass(name, k, (0.2, 0.3, 0.4)) for k, name in enumerate(names, start=1))


def test_the_names_differ_as_text_but_score_pairs_them_as_one():
    assert COMPOSED != DECOMPOSED and name_key(COMPOSED) == name_key(DECOMPOSED)


def test_a_card_refuses_one_name_given_composed_and_decomposed():
    with pytest.raises(ModelCardError, match="more than once"):
        tiny_card(3).replace(classes=_classes(COMPOSED, DECOMPOSED))


def test_export_refuses_a_card_naming_a_run_class_at_another_place_in_another_normal_form():
    from sdseg_training.errors import TrainingConfigError
    from sdseg_training.export import _check_class_places

    with pytest.raises(TrainingConfigError, match="other places"):
        _check_class_places([DECOMPOSED, "kidney"], ["liver", COMPOSED], "card.yaml")


def test_heldout_eval_refuses_swapped_classes_in_another_normal_form(tmp_path):
    from sdseg_training.card_classes import card_class_note
    from sdseg_training.errors import TrainingConfigError

    card = tiny_card(3).replace(classes=_classes(DECOMPOSED, "liver"))
    with pytest.raises(TrainingConfigError, match="another order"):
        card_class_note(tmp_path, card, ["liver", COMPOSED], multiclass=True)
    assert card_class_note(tmp_path, card, [COMPOSED, " LIVER"], multiclass=True) is None


def test_models_info_does_not_call_the_same_classes_stale():
    from SDSegLogic.cli_models import _class_warnings

    entry = RegistryEntry(id="tiny-test", version="1.0.0", title="t", task="t", modality="CT",
                          classes=(COMPOSED, "Liver"), license="MIT")
    assert _class_warnings(entry, {"classes": [{"name": DECOMPOSED}, {"name": "liver"}]}) == []
    assert _class_warnings(entry, {"classes": [{"name": "liver"}, {"name": DECOMPOSED}]})  # another order: stale


@pytest.mark.parametrize("first, second, same", [
    ("Straße", "STRASSE", True),  # Unicode case folding
    ("liver\u00a0", "liver", True),  # a no-break space around the name is whitespace
    ("left kidney", "left  kidney", False),  # inner whitespace counts, everywhere
])
def test_the_three_checks_agree(tmp_path, first, second, same):
    from sdseg_training.card_classes import card_class_note
    from sdseg_training.errors import TrainingConfigError
    from sdseg_training.export import _check_class_places

    from SDSegLogic.cli_models import _class_warnings

    entry = RegistryEntry(id="tiny-test", version="1.0.0", title="t", task="t", modality="CT",
                          classes=(first, "x"), license="MIT")
    assert (_class_warnings(entry, {"classes": [{"name": second}, {"name": "x"}]}) == []) == same
    raised = False
    try:  # the card names the run's first class second: moved, when the names are one
        _check_class_places(["z", second], [first, "y"], "card.yaml")
    except TrainingConfigError:
        raised = True
    assert raised == same
    card = tiny_card(3).replace(classes=_classes("x", second.strip() if same else second))
    assert (card_class_note(tmp_path, card, ["x", first], multiclass=True) is None) == same
