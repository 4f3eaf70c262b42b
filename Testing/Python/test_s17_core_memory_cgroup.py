"""The default memory budget honours a container's cgroup memory limit, not only physical RAM.

Each test builds a small cgroup file tree in a temporary folder and points the budget at it.
"""

from __future__ import annotations

import os

import pytest

from SDSegLogic.limits import DEFAULT_MAX_BYTES, available_memory, cgroup_memory_limit, default_memory_budget

V1_NO_LIMIT = "9223372036854771712\n"


def _ram() -> int:
    return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))


def _small_limit() -> int:
    """A limit well below this machine's RAM and below the 8 GiB cap, so it must decide the budget."""
    return min(_ram() // 4, 2 * 1024 ** 3) // 4096 * 4096


@pytest.fixture(autouse=True)
def _no_override(monkeypatch):
    monkeypatch.delenv("SDSEG_MAX_BYTES", raising=False)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limit_below_ram_sets_the_budget(tmp_path):
    limit = _small_limit()
    _write(tmp_path / "memory.max", f"{limit}\n")
    assert cgroup_memory_limit(tmp_path, None) == limit
    assert available_memory(tmp_path, None) == limit
    assert default_memory_budget(tmp_path, None) == int(limit * 0.75)


def test_cgroup_v1_limit_below_ram_sets_the_budget(tmp_path):
    limit = _small_limit()
    _write(tmp_path / "memory" / "memory.limit_in_bytes", f"{limit}\n")
    assert default_memory_budget(tmp_path, None) == int(limit * 0.75)


@pytest.mark.parametrize("layout", ["v2-max", "v1-unlimited", "empty", "garbage"])
def test_no_cgroup_limit_falls_back_to_ram(tmp_path, layout):
    if layout == "v2-max":
        _write(tmp_path / "memory.max", "max\n")
    elif layout == "v1-unlimited":
        _write(tmp_path / "memory" / "memory.limit_in_bytes", V1_NO_LIMIT)
    elif layout == "garbage":
        _write(tmp_path / "memory.max", "\xff not a number\n")
    assert cgroup_memory_limit(tmp_path, None) is None
    assert default_memory_budget(tmp_path, None) == min(DEFAULT_MAX_BYTES, int(_ram() * 0.75))


def test_limit_above_ram_does_not_raise_the_budget(tmp_path):
    _write(tmp_path / "memory.max", f"{_ram() * 4}\n")
    assert available_memory(tmp_path, None) == _ram()


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_limit_of_the_process_cgroup_or_an_ancestor_is_found(tmp_path, version):
    """A container sharing the host's cgroup namespace: the limit sits on its own path, not at the root."""
    limit = _small_limit()
    proc = tmp_path / "proc-self-cgroup"
    root = tmp_path / "cgroup"
    if version == "v1":
        proc.write_text("9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc123\n0::/\n")
        _write(root / "memory" / "memory.limit_in_bytes", V1_NO_LIMIT)
        _write(root / "memory" / "process_api" / "memory.limit_in_bytes", f"{limit}\n")
        _write(root / "memory" / "process_api" / "abc123" / "memory.limit_in_bytes", V1_NO_LIMIT)
    else:
        proc.write_text("0::/kubepods/pod1/container7\n")
        _write(root / "kubepods" / "pod1" / "container7" / "memory.max", f"{limit}\n")
        _write(root / "kubepods" / "pod1" / "memory.max", f"{limit * 2}\n")
    assert cgroup_memory_limit(root, proc) == limit
    assert default_memory_budget(root, proc) == int(limit * 0.75)


def test_environment_override_still_wins(tmp_path, monkeypatch):
    _write(tmp_path / "memory.max", f"{_small_limit()}\n")
    monkeypatch.setenv("SDSEG_MAX_BYTES", "12345")
    assert default_memory_budget(tmp_path, None) == 12345
