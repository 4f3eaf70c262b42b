"""Whether an exported model card's classes are the config's classes, in the config's order.

``heldout eval`` scores the network's class index ``i`` (1..K) against the config's ``i``-th
``data.classes`` entry. The card lists the classes in the network's order, so a config that lists
the same classes in another order would score each class's Dice against another class's masks,
silently; that is refused (also when only some classes moved, e.g. one renamed at export and two swapped), as is another number of classes (a config class the network cannot
produce, or a binary config merging the card's classes into one: each Dice would describe other
structures than the card's). Names that differ otherwise (a card renamed at export through its card
file, a config of another dataset) are reported, not refused. The card's ``label_value`` is the
segment's value in the engine's output label map, chosen at export, not a value of the training
label files, so it is not compared with ``data.classes[*].labels``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional, Sequence

from SDSegLogic.class_names import class_name_key

from .errors import TrainingConfigError

__all__ = ["card_class_note"]


def card_class_note(model_dir: Path, card: Any, names: Sequence[str], multiclass: bool,
                    config_file: Optional[str] = None) -> Optional[str]:
    """Compare a model card's classes with the config's: their number, then their order.

    Args:
        model_dir: the exported folder, for the message.
        card: its ``SDSegLogic.model_card.ModelCard`` (None: nothing to compare).
        names: the config's foreground class names in class-index order (``DatasetInfo.class_names``).
        multiclass: ``data.multiclass``; a binary config scores one class, so no order to compare.
        config_file: the training YAML, for the message (None: "the config").

    Returns:
        A warning when the names differ (as :func:`SDSegLogic.class_names.class_name_key` compares them), else None.

    Raises:
        TrainingConfigError: another number of classes, naming both counts, both files and the
            remedy; or a card class that the config names at another place, naming both orders and the remedy.
    """
    if card is None:
        return None
    trained: List[str] = [c.name for c in card.classes]
    now = [str(n) for n in names][:None if multiclass else 1]  # a binary config scores its one (union) class
    card_file = Path(model_dir) / "model_card.json"
    if len(trained) != len(now):
        where = f"the config {config_file}" if config_file else "the config"
        setting = (f"data.multiclass=true, model.num_classes={len(trained) + 1} and data.classes" if len(trained) > 1
                   else "data.multiclass=false, model.num_classes=null and one data.classes entry")
        raise TrainingConfigError(
            f"cannot evaluate {model_dir}: its model card ({card_file}) has {len(trained)} class"
            f"{'es' if len(trained) != 1 else ''} ({trained}), but {where} scores {len(now)} class"
            f"{'es' if len(now) != 1 else ''} ({now}, data.multiclass={str(bool(multiclass)).lower()}); the network's "
            f"class i would be scored against the config's i-th class, so the per-class Dice would describe other "
            f"structures. Evaluate with the run's config, or set {setting} listing the card's classes: {trained}.")
    if not multiclass or [class_name_key(n) for n in trained] == [class_name_key(n) for n in now]:
        return None
    keys = [class_name_key(n) for n in now]  # a card class the config names at another place, as export refuses it
    moved = [n for i, n in enumerate(trained) if class_name_key(n) in keys and keys.index(class_name_key(n)) != i]
    if moved:
        raise TrainingConfigError(
            f"cannot evaluate {model_dir}: the config lists the model's classes in another order ({now}) than its "
            f"model card ({trained}, {card_file}): {moved} stand at other places; the network's class i would be "
            f"scored against the config's i-th class, so each per-class Dice would describe another class. List "
            f"data.classes in the card's order: {trained}.")
    return (f"the classes of {model_dir} ({trained} in {card_file}) are not the config's data.classes ({now}): class i "
            "of the network is scored against the config's i-th class; check that they are the same structures.")
