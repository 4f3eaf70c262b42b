"""A weight file whose safetensors header lies about offsets or sizes is refused at import and by verify.

The import and ``sdseg models verify`` read only the headers' names, dtypes and shapes, so a file whose
``data_offsets`` make two tensors share bytes, or that is shorter than its header says (its card sha256
made to match), was installed and verified "OK", and every load then failed in safetensors.
"""

from __future__ import annotations

import json
import shutil
import struct

import pytest
from cli_test_helpers import zip_folder
from safetensors import SafetensorError
from safetensors.torch import load_file

from SDSegLogic.errors import CheckpointError
from SDSegLogic.model_folder import sha256_file
from SDSegLogic.model_zip import import_zip
from SDSegLogic.registry import Registry
from SDSegLogic.weight_shapes import check_folder_shapes
from test_registry import home, tiny_folder  # noqa: F401 - pytest fixtures


def _read(path):
    raw = path.read_bytes()
    (size,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + size]), raw[8 + size:]


def _write(path, header, data):
    text = json.dumps(header).encode("utf-8")
    text += b" " * (-len(text) % 8)
    path.write_bytes(struct.pack("<Q", len(text)) + text + data)


def _shared(header, data):
    """Two tensors of one dtype and shape made to point at the same bytes (the second's bytes dropped)."""
    names = sorted((n for n in header if n != "__metadata__"), key=lambda n: header[n]["data_offsets"])
    first, second = next((a, b) for i, a in enumerate(names) for b in names[i + 1:]
                         if (header[a]["dtype"], header[a]["shape"]) == (header[b]["dtype"], header[b]["shape"]))
    out, end = bytearray(), 0
    for name in names:
        begin, stop = header[name]["data_offsets"]
        if name != second:
            header[name]["data_offsets"] = [end, end + stop - begin]
            out += data[begin:stop]
            end += stop - begin
    header[second]["data_offsets"] = list(header[first]["data_offsets"])
    return header, bytes(out), second


def _truncated(header, data):
    return header, data[:-4], None


@pytest.mark.parametrize("lie, said", [(_shared, "starts at data byte"), (_truncated, "end at data byte")])
def test_a_lying_safetensors_header_is_refused_by_the_folder_check_and_the_import(tiny_folder, tmp_path, home, lie, said):
    folder = shutil.copytree(tiny_folder, tmp_path / "tiny-test")
    weights = folder / "unet.safetensors"
    header, data, tensor = lie(*_read(weights))
    _write(weights, header, data)
    card = json.loads((folder / "model_card.json").read_text(encoding="utf-8"))
    card["weights"]["unet.safetensors"] = sha256_file(weights)
    (folder / "model_card.json").write_text(json.dumps(card), encoding="utf-8")
    with pytest.raises(SafetensorError):  # what every load of this file does
        load_file(str(weights))
    with pytest.raises(CheckpointError) as caught:
        check_folder_shapes(folder)
    assert str(weights) in str(caught.value) and said in str(caught.value)
    if tensor is not None:
        assert repr(tensor) in str(caught.value)
    archive = zip_folder(folder, tmp_path / "lying.zip")
    with pytest.raises(CheckpointError) as caught:
        import_zip(archive, Registry(), home=home)
    assert f"{archive}: unet.safetensors: not a readable safetensors file" in str(caught.value)
    assert said in str(caught.value) and ".import-" not in str(caught.value)
    assert not (home / "tiny-test").exists()
