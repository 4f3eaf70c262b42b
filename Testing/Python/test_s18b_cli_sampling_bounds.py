"""``sdseg segment --samples`` and ``--steps`` have upper bounds, the engine's, checked before any work.

The CLI accepted any count (``--samples 100000`` ran the whole volume 100000 times), while the
engine server refuses more than 64 samples and 1000 steps. A count over its bound is now a usage
error (exit code 2) naming the option, the value and the limit, before the model is loaded.
"""

from __future__ import annotations


import pytest
from cli_segment_fixtures import crop, isolated_home, run, tiny_folder  # noqa: F401 (fixtures)

EXIT_USAGE = 2


def _engine_limits() -> dict:
    """The limits the engine server applies (option -> (low, high)): the shared table of segment_options."""
    from SDSegLogic.segment_options import OPTION_LIMITS

    return {key: (low, high) for key, (low, high, _meaning) in OPTION_LIMITS.items()}


MAX_SAMPLES = _engine_limits()["num_samples"][1]
MAX_STEPS = _engine_limits()["num_inference_steps"][1]


def test_the_bounds_are_the_engines():
    from SDSegLogic.errors import InputError
    from SDSegLogic.segment_options import MAX_SAMPLES as cli_samples, MAX_STEPS as cli_steps
    from SDSegLogic.server.option_rule import option_number

    for key, cli_limit in (("num_samples", cli_samples), ("num_inference_steps", cli_steps)):
        assert option_number(key, cli_limit) == cli_limit  # the engine takes the CLI's largest count
        with pytest.raises(InputError, match=f"from 1 to {cli_limit}"):
            option_number(key, cli_limit + 1)  # and refuses one more


@pytest.mark.parametrize("option, value, limit", [("--samples", MAX_SAMPLES + 1, MAX_SAMPLES),
                                                  ("--samples", 100000, MAX_SAMPLES),
                                                  ("--steps", MAX_STEPS + 1, MAX_STEPS),
                                                  ("--steps", 10**9, MAX_STEPS)])
def test_a_count_over_its_bound_is_a_usage_error_before_the_model_loads(crop, tmp_path, capsys, option, value, limit):
    out = tmp_path / "out" / "crop.seg.nrrd"
    # a model that does not exist: the refusal must come before it is looked for
    code, _, err = run(["segment", crop, "-o", out, option, value, "--model", tmp_path / "no-such-model"], capsys)
    assert code == EXIT_USAGE, err
    assert f"{option} {value}" in err and f"at most {limit}" in err, err
    assert not out.parent.exists()


def test_the_bounds_themselves_are_accepted(crop, tiny_folder, tmp_path, capsys):
    out = tmp_path / "crop.seg.nrrd"
    code, _, err = run(["segment", crop, "-o", out, "--samples", MAX_SAMPLES, "--slices", "0:1", "--model",
                        tiny_folder, "--device", "cpu"], capsys)
    assert code == 0, err
    assert out.exists()
