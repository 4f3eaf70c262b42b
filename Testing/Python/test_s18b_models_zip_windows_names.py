"""A model zip whose member names Windows cannot hold is refused on every system, naming the member.

Such a zip installed on Linux and macOS but not on Windows (or installed there as other files: a
trailing dot is dropped, ``a:b`` writes the stream ``b`` of ``a``, ``nul.json`` is the null
device). A model zip must install everywhere, so each is refused before anything is written.
"""

from __future__ import annotations

import pytest
from cli_test_helpers import make_model_folder, zip_folder

from SDSegLogic.model_zip import UnsafeArchiveError, import_zip
from SDSegLogic.registry import Registry


@pytest.mark.parametrize("member", [
    "notes.", "notes ", "sub./readme.txt", "docs/unet.safetensors:hidden", "NUL", "nul.json", "docs/Com1.txt",
    "lpt9", "a<b", 'say"hi"', "pipe|name", "what?", "star*", "tab\tname",
])
@pytest.mark.parametrize("prefix", ["", "tiny-test/"])
def test_a_member_name_windows_cannot_hold_is_refused_naming_it(tmp_path, member, prefix):
    folder = make_model_folder(tmp_path / "model")
    archive = zip_folder(folder, tmp_path / "model.zip", prefix, extra=[(prefix + member, b"x")])
    home = tmp_path / "home"
    with pytest.raises(UnsafeArchiveError) as caught:
        import_zip(archive, Registry(), home)
    text = str(caught.value)
    assert repr(prefix + member) in text and "Windows" in text
    assert not home.exists() or not any(home.iterdir())


@pytest.mark.parametrize("member", ["console.txt", "nullable.json", "com10.txt", "notes.d/readme", "a.b.c", "ünïcode.md"])
def test_names_windows_can_hold_still_install(tmp_path, member):
    folder = make_model_folder(tmp_path / "model")
    archive = zip_folder(folder, tmp_path / "model.zip", extra=[(member, b"x")])
    installed = import_zip(archive, Registry(), tmp_path / "home")
    assert (installed.folder / member).read_bytes() == b"x"
