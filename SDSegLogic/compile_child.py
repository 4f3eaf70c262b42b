"""Build a model folder's AOT packages in a child process (``python -m SDSegLogic.compiled FOLDER``), tied to its parent.

Compiling runs a C++ toolchain and, on a GPU, kernel autotuning for minutes; a crash in it must
not take the engine down, so :func:`build_in_child` runs it in a child process. That child exits
when its parent does (``--exit-with-parent``: it watches the pipe on its stdin): an engine killed
while it waited for the build (a start cancelled in Slicer, a ready timeout, SIGKILL) used to leave
the build running on as an orphan for minutes, holding CPU cores or GPU memory, and then writing
packages nobody had asked for any more. :mod:`SDSegLogic.compiled` re-exports both functions.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional, Union

if TYPE_CHECKING:  # pragma: no cover
    import torch

__all__ = ["EXIT_PARENT_GONE", "build_in_child", "main"]

LOG = logging.getLogger("SDSegLogic.compiled")

EXIT_PARENT_GONE = 5
"""Exit code of a ``--exit-with-parent`` build whose parent went away (its stdin reached end of file)."""


def _exit_with_parent() -> None:
    """Watch stdin (a pipe from the parent) in a daemon thread; at its end of file, exit at once.

    ``os._exit``: the build is in the middle of C++ compiles and kernel tuning, and nobody is left to
    use what it would write; its partial package file is deleted by a later build
    (:mod:`SDSegLogic.compiled_partials`).
    """
    def watch() -> None:
        try:  # the descriptor, not sys.stdin: a thread blocked in a buffered read aborts the interpreter's exit
            while os.read(sys.stdin.fileno(), 4096):
                pass
        except (OSError, ValueError):
            pass
        os._exit(EXIT_PARENT_GONE)

    threading.Thread(target=watch, daemon=True, name="sdseg-compile-parent-watch").start()


def _dtype_name(dtype: "torch.dtype") -> str:
    return str(dtype).replace("torch.", "")


def build_in_child(model_folder: Union[str, Path], device: "torch.device", dtype: "torch.dtype", unet_dtype: "torch.dtype",
                   channels_last: bool, cache_dir: Union[str, Path, None] = None, variant: Optional[str] = None,
                   report: Optional[Callable[[str], None]] = None) -> int:
    """Build the packages of a model folder in a separate Python process; return its exit code.

    Compiling runs a C++ toolchain and, on a GPU, kernel autotuning for minutes; if anything in it
    crashes the process (a signal, the host running out of memory), only the child dies and the
    caller goes on with its eager networks. The child loads the folder exactly as the caller did
    (same dtypes and memory format), so the packages it writes carry the caller's cache keys.
    """
    say = report or LOG.info
    cmd = [sys.executable, "-m", "SDSegLogic.compiled", str(model_folder), "--device", str(device),
           "--dtype", _dtype_name(dtype), "--unet-dtype", _dtype_name(unet_dtype)]
    cmd += ["--channels-last", "on" if channels_last else "off", "--exit-with-parent"]
    if cache_dir is not None:
        cmd += ["--cache-dir", str(cache_dir)]
    if variant:
        cmd += ["--variant", variant]
    env = dict(os.environ)
    package_root = str(Path(__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
    say(f"building compiled networks in a child process: {' '.join(cmd[1:4])} ...")
    # stdin: a pipe only this process writes to; it closes when this process ends, however it ends
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line and "Warning" not in line and not line.startswith("  "):
            say(f"[build] {line}")
    code = proc.wait()
    proc.stdin.close()  # type: ignore[union-attr]
    if code != 0:
        say(f"the compile process exited with code {code}; the networks it did not finish stay eager")
    return code


def main(argv: Optional[List[str]] = None) -> int:
    """``python -m SDSegLogic.compiled FOLDER ...``: build a model folder's AOT packages (used by
    :func:`build_in_child`; also a way to prepare a machine ahead of its first use)."""
    import argparse

    from .pipeline import SDSegPipeline

    parser = argparse.ArgumentParser(prog="python -m SDSegLogic.compiled", description=main.__doc__.split(":")[0])
    parser.add_argument("folder", help="model folder")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--dtype", default=None, help="vision encoder/decoder precision (default: the engine's)")
    parser.add_argument("--unet-dtype", default=None, help="UNet precision (default: the engine's)")
    parser.add_argument("--channels-last", choices=["on", "off"], default=None, help="memory format (default: the engine's)")
    parser.add_argument("--cache-dir", default=None)
    parser.add_argument("--variant", default=None)
    parser.add_argument("--exit-with-parent", action="store_true", help="exit when stdin (a pipe from the parent) closes")
    args = parser.parse_args(argv)
    if args.exit_with_parent:
        _exit_with_parent()
    pipe = SDSegPipeline.from_pretrained(args.folder, device=args.device, dtype=args.dtype, unet_dtype=args.unet_dtype,
                                         channels_last=None if args.channels_last is None else args.channels_last == "on",
                                         variant=args.variant)
    pipe.compile(backend="aot", cache_dir=args.cache_dir, build=True)
    statuses = {k: v["status"] for k, v in (pipe.compile_summary or {}).items() if isinstance(v, dict)}
    print(json.dumps({"event": "compiled", "statuses": statuses}), flush=True)
    return 0 if all(v in ("built", "loaded") for v in statuses.values()) else 1
