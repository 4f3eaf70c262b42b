"""What README.md and ``sdseg --help`` tell a newcomer to type is accepted, and says what the tool does.

Every ``sdseg`` line in the READMEs' shell blocks and in the ``examples:`` of the help texts is parsed
by the real parser (a flag renamed in the code but not in the docs fails here); the README's list of
exit codes is checked against the codes the tool returns; the README shows how to start the engine
that its Slicer section connects to, with options the engine accepts.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import List

import pytest

from SDSegLogic.cli import EXIT_CODES, build_parser, main

REPO = Path(__file__).resolve().parents[2]
READMES = (REPO / "README.md", REPO / "Resources" / "Samples" / "README.md")


def _shell_lines(text: str, start: str) -> List[str]:
    """Lines beginning with ``start`` in the ```bash blocks of ``text``, continuations joined, comments cut."""
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split(" && "):  # the set-up line: pip install ... && sdseg segment ...
                part = part.strip()
                if part.startswith(start):
                    lines.append(re.split(r"\s+#\s", part)[0].strip())
    return lines


def _help_examples(capsys, *command: str) -> List[str]:
    """The ``sdseg`` lines under ``examples:`` in ``sdseg COMMAND --help``, comments cut."""
    assert main([*command, "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:\n" in text, f"'sdseg {' '.join(command)} --help' shows no examples"
    block = text.split("examples:\n", 1)[1].split("\n\n", 1)[0]
    return [re.split(r"\s+#\s", line.strip())[0] for line in block.splitlines() if line.strip().startswith("sdseg ")]


def _commands(line: str) -> List[List[str]]:
    """``sdseg ...`` as argument lists; ``sdseg models list | info ID | ...`` gives one list per action."""
    words = shlex.split(line)[1:]
    if words[:1] == ["models"] and " | " in line:
        return [["models", *shlex.split(action)] for action in line.split("models", 1)[1].split(" | ")]
    return [words]


def test_every_sdseg_line_of_the_readmes_and_help_examples_parses(capsys):
    lines = [line for readme in READMES for line in _shell_lines(readme.read_text(encoding="utf-8"), "sdseg ")]
    for command in (("segment",), ("score",), ("models",)):
        lines += _help_examples(capsys, *command)
    assert len(lines) >= 20, lines  # the READMEs' command block and the help examples were found
    for line in lines:
        for argv in _commands(line):
            args = build_parser().parse_args(argv)  # raises UsageError naming the bad option
            assert args.command == argv[0], line


def test_readme_exit_codes_name_every_code_the_tool_returns():
    text = " ".join((REPO / "README.md").read_text(encoding="utf-8").split())
    sentence = re.search(r"Exit codes: (.*?)\. Outputs", text)
    assert sentence, "the README has no 'Exit codes: ...' sentence"
    listed = {int(code) for code in re.findall(r"\b(\d+) [a-z(`]", sentence.group(1))}
    assert listed == set(EXIT_CODES), f"README lists {sorted(listed)}, sdseg returns {sorted(EXIT_CODES)}"


def test_readme_shows_how_to_start_the_engine_its_slicer_section_connects_to():
    server = pytest.importorskip("SDSegLogic.server.__main__")
    text = (REPO / "README.md").read_text(encoding="utf-8")
    lines = _shell_lines(text, "python -m SDSegLogic.server ")
    assert lines, "README.md shows no 'python -m SDSegLogic.server ...' command for the remote engine"
    for line in lines:
        args = server.build_parser().parse_args(shlex.split(line)[3:])
        assert args.token_file or args.token_env or args.token_stdin, f"{line}: no token source"
        assert server.resolve_model(args.model).is_dir(), line  # the model it names is found here
        port = args.port
        assert f"sdseg://WORKSTATION:{port}" in text and f"{port}:127.0.0.1:{port}" in text  # the URL Slicer takes


def test_segment_help_names_the_device_values_it_accepts(capsys):
    assert main(["segment", "--help"]) == 0
    usage = " ".join(capsys.readouterr().out.split())
    shown = re.search(r"\[--device ([^\]]+)\]", usage)
    assert shown and "cuda:N" in shown.group(1), f"--device shows no values in the usage: {shown and shown.group(0)}"
    for value in shown.group(1).replace("cuda:N", "cuda:0").split("|"):
        assert build_parser().parse_args(["segment", "x.nrrd", "-o", "x.seg.nrrd", "--device", value]).device == value
