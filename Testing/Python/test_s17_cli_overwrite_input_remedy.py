"""An output that would overwrite an input: the refusal gives a remedy the user can apply.

With ``-o`` a folder the outputs are named after the inputs (``ct.nrrd`` -> ``ct.EXT``), so
``sdseg segment ct.nrrd -o ./ --format nrrd`` would write ``ct.nrrd`` over the input. "Choose another
name" cannot be done there: no option names that file. The refusal (exit code 2, before the model
loads) must point at what can change: the folder, or the format. With ``-o`` a file name, choosing
another name stays the remedy.
"""

from __future__ import annotations

import shutil

from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

EXIT_USAGE = 2


def test_a_folder_output_over_its_input_names_the_options_that_avoid_it(crop, tmp_path, capsys):
    source = tmp_path / "ct.nrrd"
    shutil.copyfile(crop, source)
    code, _, err = run(["segment", source, "-o", f"{tmp_path}/", "--format", "nrrd", "--model", "no-such-model"],
                       capsys)
    assert code == EXIT_USAGE, err
    assert str(source) in err and "overwrite an input" in err
    assert "choose another name" not in err
    assert "-o another folder" in err and "--format" in err
    assert source.read_bytes() == crop.read_bytes()


def test_a_probability_folder_over_its_input_names_its_own_option(crop, tmp_path, capsys):
    source = tmp_path / "ct.prob.nrrd"  # a probability map from an earlier run, segmented again
    shutil.copyfile(crop, source)
    code, _, err = run(["segment", source, tmp_path / "ct.nrrd", "-o", tmp_path / "out", "--prob-map",
                        f"{tmp_path}/", "--model", "no-such-model"], capsys)
    assert code == EXIT_USAGE, err
    assert "--prob-map another folder" in err and "--format" not in err


def test_a_file_output_over_its_input_still_asks_for_another_name(crop, tmp_path, capsys):
    source = tmp_path / "ct.nrrd"
    shutil.copyfile(crop, source)
    code, _, err = run(["segment", source, "-o", source, "--model", "no-such-model"], capsys)
    assert code == EXIT_USAGE, err
    assert "overwrite an input; choose another name" in err
