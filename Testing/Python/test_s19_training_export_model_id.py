"""``sdseg-export`` refuses a model id that no one could install, before writing the model folder.

The card's ``model_id`` (from the card file, else the run folder's name) names the cache folder a zip import
installs into; ``sdseg models verify`` and the import refuse ids that are not folder-safe. A run folder named
``My Run`` exported a model whose zip every user's import then refused.
"""

from __future__ import annotations

import json

from test_s19_training_export_card_class_order import export_main, run  # noqa: F401 (run: module fixture)


def test_a_card_file_model_id_that_is_not_folder_safe_is_refused(run, capsys):  # noqa: F811
    root, config, args = run
    card = root / "bad-id.card.json"
    card.write_text(json.dumps({"model_id": "My CT Model"}))
    assert export_main([str(config), *args, "--card", str(card), "--out", str(root / "bad-id")]) != 0
    err = capsys.readouterr().err
    assert "'My CT Model'" in err and "folder-safe" in err and str(card) in err, err
    assert not (root / "bad-id").exists()


def test_a_run_folder_name_that_is_not_folder_safe_is_refused_with_the_remedy(run, capsys):  # noqa: F811
    root, config, args = run
    (root / "My Run").symlink_to(root / "s2", target_is_directory=True)
    named = [a for a in args if not a.startswith("train.output_dir=")] + [f"train.output_dir={root / 'My Run'}"]
    assert export_main([str(config), *named, "--out", str(root / "from-my-run")]) != 0
    err = capsys.readouterr().err
    assert "'My Run'" in err and "run folder's name" in err and "model_id" in err, err
    assert not (root / "from-my-run").exists()
    card = root / "good-id.card.json"
    card.write_text(json.dumps({"model_id": "my-run"}))
    assert export_main([str(config), *named, "--card", str(card), "--out", str(root / "from-my-run")]) == 0
    assert json.loads((root / "from-my-run" / "model_card.json").read_text())["model_id"] == "my-run"
