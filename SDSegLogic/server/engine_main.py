"""The engine process's ``main``: one engine with a warm model (run by ``python -m SDSegLogic.server``).

:mod:`SDSegLogic.server.__main__` only launches it: it turns on the start-up signal handling before
this module and NumPy are imported, then calls :func:`main`.

The token never appears in argv (``ps`` shows argv to every user). It comes from, in order:
``--token-stdin`` (first line of stdin), the environment variable named by ``--token-env``, or
``--token-file`` (read when the file exists, else a fresh token is written there with 0600
permissions). When the engine is ready it prints exactly one JSON line to stdout::

    {"event": "ready", "host": "127.0.0.1", "listen_host": "127.0.0.1", "port": 50123, "pid": 4242, "protocol": 1, ...}

``host`` is the address a client on this machine connects to; ``listen_host`` the one listened on
(they differ for a wildcard ``--host 0.0.0.0`` or ``::``: ``host`` is then ``127.0.0.1`` or ``::1``).

After that line, stdout is routed to stderr, so the parent may stop reading it. A stdout that cannot
be written (``>&-``, ``1</dev/null``) gets a warning on stderr, with the line, and the engine serves.

SIGTERM and Ctrl-C shut the engine down like a ``shutdown`` request (a running job ends with
``error engine_shutdown``); a second Ctrl-C interrupts at once. Ctrl-C or SIGTERM before the engine serves
(importing this module, waiting for ``--token-stdin``, importing torch, loading the model) ends it with one
line on stderr and exit code 0 (:mod:`SDSegLogic.server.engine_signals`).

``--registry PATH`` names the ``models.json`` a registry id given as ``--model`` resolves with (default
``$SDSEG_REGISTRY``, else the checkout's; ``""``: none, the models folder only): a launcher with its own
registry (the Slicer panel's) passes it, so that the engine loads the model the launcher resolved.

``--private-dir DIR`` names the directory a launcher made for this engine alone (it holds the token
file; :class:`~SDSegLogic.server.process.EngineProcess` passes it). When the engine exits because its
parent is gone (``--watch-stdin`` saw stdin close, or the ``ready`` line could not be written), it
deletes that directory's token and default log and the directory: a parent that was killed cannot.
Stdin is watched from before the model loads: a parent gone during a long load or kernel build ends it at once.

Logs go to stderr. Exit codes: 0 after shutdown, 2 for bad arguments, 3 when the model cannot be
loaded, 4 when the socket cannot be opened. The socket is opened before the model is loaded, so a
port in use is reported at once rather than after a long model load or kernel build.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..compile_policy import COMPILE_POLICIES
from ..errors import ModelCardError, SDSegError
from .engine import EngineOptions, EngineServer
from .engine_options import DEFAULT_UPLOAD_FLOOR_S, DEFAULT_UPLOAD_MIN_BYTES_PER_S, client_address, listen_failure_text, loopback_address
from .engine_signals import StartInterrupted, start_interrupted_text, stop_on_signals, stop_start_on_sigterm
from .engine_stdout import route_stdout_to_stderr, write_ready_line
from .log_text import log_safe
from .process import remove_private_dir
from .protocol import DEFAULT_MAX_REQUEST_BYTES, PROTOCOL_VERSION

log = logging.getLogger("SDSegLogic.server")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def write_token_file(path: Path, token: str) -> None:
    """Write ``token`` to ``path`` atomically with 0600 permissions (created private, then renamed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".token.", dir=str(path.parent))
    try:
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(token + "\n")
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_token(args: argparse.Namespace) -> str:
    """Resolve the token as described in the module docstring."""
    if args.token_stdin:
        if sys.stdin is None:  # started with stdin closed ("<&-"): it was a traceback (exit code 1), not exit code 2
            raise SDSegError("--token-stdin was given but the engine has no stdin (it was closed); pipe the token into it, "
                             "or use --token-file PATH.")
        token = sys.stdin.readline().strip()
        if not token:
            raise SDSegError("--token-stdin was given but stdin held no token line.")
        return token
    if args.token_env:
        token = os.environ.get(args.token_env, "").strip()
        if not token:
            raise SDSegError(f"--token-env {args.token_env}: that environment variable is empty or unset.")
        return token
    if args.token_file:
        path = Path(args.token_file).expanduser()
        if path.is_file():
            if os.name == "posix" and path.stat().st_mode & 0o077:
                raise SDSegError(f"{path}: token file is readable by other users; run 'chmod 600 {path}' or delete it.")
            token = path.read_text(encoding="utf-8").strip()
            if token:
                return token
        token = secrets.token_urlsafe(32)
        write_token_file(path, token)
        return token
    raise SDSegError("no token source: pass --token-file PATH (recommended), --token-env NAME or --token-stdin.")


def resolve_model(spec: str, registry_path: Optional[str] = None) -> Path:
    """The folder of a model folder path or a registry id (``id`` or ``id@version``); see :mod:`SDSegLogic.registry`.

    Args:
        spec: ``--model``: a model folder, or a registry id (``id``, ``id@version``).
        registry_path: ``--registry``: the ``models.json`` ids resolve with; ``""``: none (the models
            folder only); None: ``$SDSEG_REGISTRY``, else the checkout's. A model folder needs no
            registry (its entry is not used here): an unreadable ``--registry`` file does not stop it.

    Raises:
        ModelCardError: the ``--registry`` file cannot be read (the message names the option and the file).
        ModelNotFoundError: ``spec`` is no model folder and no id the registry or the models folder knows
            (:func:`SDSegLogic.registry.resolve_model`).
    """
    from ..registry import Registry, resolve_model as resolve

    registry = None
    if registry_path is not None:
        try:
            registry = Registry() if not registry_path or Path(spec).expanduser().is_dir() else Registry.load(Path(registry_path).expanduser())
        except ModelCardError as exc:  # its remedy names $SDSEG_REGISTRY: say which option named the file
            raise ModelCardError(f"{exc} (the file of --registry {registry_path}: pass a readable models.json, or leave "
                                 "--registry out)") from None
    return Path(resolve(spec, registry=registry).folder)


def _watch_stdin(server: EngineServer, parent_gone: threading.Event, private_dir: Optional[Path]) -> None:
    """Read stdin to its end (the parent is gone), then stop the engine.

    Started before the model loads: a parent that dies meanwhile ends a load or a kernel build of
    minutes at once (``os._exit``; the build's child process follows, as it watches this one), with
    the private directory deleted, instead of after it, when nobody is left to use the engine.
    """
    stream = sys.stdin  # None when the engine was started with stdin closed ("<&-"): at its end already
    try:
        while stream is not None and stream.read(1):
            pass
    except (OSError, ValueError):
        pass
    log.info("stdin closed (the parent process is gone); shutting down")
    parent_gone.set()
    if server.predictor is None:  # still loading: nobody can ever learn the port
        if private_dir is not None:
            remove_private_dir(private_dir)
        os._exit(0)
    server.shutdown("parent_exited")


def check_private_dir(args: argparse.Namespace) -> Optional[Path]:
    """The ``--private-dir`` folder, or None; it must exist and hold the ``--token-file``.

    Raises:
        SDSegError: naming the folder and the remedy, so that no other folder's files are ever deleted.
    """
    if not args.private_dir:
        return None
    folder = Path(args.private_dir).expanduser().resolve()
    token_parent = Path(args.token_file).expanduser().resolve().parent if args.token_file else None
    if not folder.is_dir() or token_parent != folder:
        raise SDSegError(f"--private-dir {args.private_dir}: must be an existing folder that holds the --token-file "
                         f"(got --token-file {args.token_file!r}); leave --private-dir out when the engine does not own a folder.")
    return folder


def thread_count(text: str) -> int:
    """``--threads``: a whole number >= 0 (0: torch's default); argparse reports anything else (exit code 2)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of CPU threads; give a whole number >= 1, "
                                         "or 0 (the default) for torch's own choice.")
    return value


def usable_threads(wanted: int) -> int:
    """``--threads`` capped at this machine's CPU count (logged): OpenMP died allocating a pool for 10**9 threads."""
    cpus = os.cpu_count() or 1
    if wanted <= cpus:
        return wanted
    log.warning("--threads %d is more than the %d CPUs of this machine; using %d", wanted, cpus, cpus)
    return cpus


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m SDSegLogic.server", description="SDSeg engine: a warm model behind a loopback socket.")
    p.add_argument("--model", required=True, help="model id from the registry (see --registry), or a model folder")
    p.add_argument("--registry", default=None, metavar="PATH",
                   help="models.json that --model ids resolve with (default: $SDSEG_REGISTRY, else the checkout's "
                        "Resources/models.json); '' for none: ids resolve from the models folder only")
    p.add_argument("--device", default="auto", help="auto (CUDA when present), cpu, cuda, cuda:1 (default auto)")
    p.add_argument("--dtype", default=None, help="network precision: float32, float16 (default: faithful: fp16 encoder/decoder + fp32 UNet on CUDA, fp32 on CPU)")
    p.add_argument("--host", default="127.0.0.1",
                   help="bind address (default 127.0.0.1; ::1, [::1] and localhost are loopback too; others need --allow-remote)")
    p.add_argument("--port", type=int, default=0, help="TCP port, 0 = any free port (default)")
    p.add_argument("--token-file", help="read the token from this file, or create it (0600) with a new random token")
    p.add_argument("--token-env", help="read the token from this environment variable")
    p.add_argument("--token-stdin", action="store_true", help="read the token from the first line of stdin")
    p.add_argument("--watch-stdin", action="store_true", help="exit when stdin reaches end of file (parent died)")
    p.add_argument("--private-dir", help="folder made for this engine alone, holding the --token-file: its token and default "
                                         "log (engine.log) and the folder are deleted when the engine exits because its parent is gone")
    p.add_argument("--max-request-bytes", type=int, default=DEFAULT_MAX_REQUEST_BYTES, help="largest request body accepted")
    p.add_argument("--max-inflight-request-bytes", type=int, default=None,
                   help="request bodies received or held at once, all connections together; a body that does not fit is "
                        "answered busy (default: 2 x --max-request-bytes)")
    p.add_argument("--idle-timeout", type=float, default=0.0, help="exit after this many seconds without a client (0: never)")
    p.add_argument("--io-timeout", type=float, default=60.0,
                   help="disconnect a client that stops this many seconds in the middle of a frame or stops reading (default 60)")
    p.add_argument("--upload-min-rate", type=float, default=DEFAULT_UPLOAD_MIN_BYTES_PER_S / (1 << 20),
                   help="slowest average upload rate in MiB/s: a request of n MiB must arrive within max(--upload-floor, "
                        "n / this) seconds, else it is dropped with error upload_too_slow (default 0.25, i.e. 2 Mbit/s)")
    p.add_argument("--upload-floor", type=float, default=DEFAULT_UPLOAD_FLOOR_S,
                   help="seconds any request may take to arrive, whatever its size (default 60)")
    p.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host (token still required)")
    p.add_argument("--compile", default="auto", choices=COMPILE_POLICIES,
                   help="GPU kernels: auto = use compiled kernels cached for this model; aot = build if missing; off = eager")
    p.add_argument("--no-warmup", action="store_true", help="skip the warm-up forward pass before 'ready'")
    p.add_argument("--threads", type=thread_count, default=0,
                   help="torch CPU threads, at most the machine's CPU count (0: torch default)")
    p.add_argument("--log-level", default="INFO", type=str.upper, choices=LOG_LEVELS,
                   help=f"engine log detail on stderr: {', '.join(LOG_LEVELS)} (any case; default INFO)")
    return p


def _host_port(host: str, port: int) -> str:
    """``host:port`` for a message; an IPv6 address in brackets (``[::]:5000``), as in a URL."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def main(argv: Optional[List[str]] = None) -> int:
    """Run the engine with the command line ``argv`` (default ``sys.argv[1:]``); returns the exit code (module docstring)."""
    restore = stop_start_on_sigterm()  # from the first line: SIGTERM before "ready" is one line and exit code 0, as Ctrl-C
    try:
        try:
            args = build_parser().parse_args(argv)
        except (KeyboardInterrupt, StartInterrupted) as exc:
            print(start_interrupted_text(exc), file=sys.stderr)
            return 0
        return _main(args, restore)
    finally:
        restore()


def _main(args: argparse.Namespace, restore: Callable[[], None]) -> int:
    """:func:`main` once the arguments are parsed; ``restore`` ends the start-up SIGTERM handling (:mod:`.engine_signals`)."""
    logging.basicConfig(level=args.log_level, stream=sys.stderr, format="%(asctime)s sdseg-engine %(levelname)s %(message)s")
    server: Optional[EngineServer] = None
    loading = False
    try:
        try:
            token = read_token(args)  # --token-stdin may wait here for a long time: SIGTERM and Ctrl-C are one line
            options = EngineOptions(token=token, host=args.host, port=args.port, max_request_bytes=args.max_request_bytes,
                                    max_inflight_request_bytes=args.max_inflight_request_bytes, idle_timeout_s=args.idle_timeout,
                                    allow_remote=args.allow_remote, io_timeout_s=args.io_timeout,
                                    upload_min_bytes_per_s=args.upload_min_rate * (1 << 20), upload_floor_s=args.upload_floor)
            options.validate()
            private_dir = check_private_dir(args)
        except (SDSegError, OSError) as exc:  # OSError: an unreadable token file
            print(f"sdseg-engine: {exc}", file=sys.stderr)
            return 2
        server = EngineServer(None, options)  # the predictor is set once loaded
        try:
            port = server.bind()
        except (OSError, OverflowError) as exc:
            print(f"sdseg-engine: {listen_failure_text(server.host, args.port, exc)}", file=sys.stderr)
            return 4
        if loopback_address(options.host) is None:  # after bind: the address as bound ("" is 0.0.0.0), and its port
            log.warning("listening on %s: other machines can reach this engine (token required)", _host_port(server.host, port))
        parent_gone = threading.Event()
        if args.watch_stdin:
            threading.Thread(target=_watch_stdin, args=(server, parent_gone, private_dir), daemon=True).start()
        loading = True
        predictor, timings = _load(args)
        server.predictor = predictor
        stop_on_signals(server.stop)  # before "ready": from then on a SIGTERM reaches clients as engine_shutdown
    except (KeyboardInterrupt, StartInterrupted) as exc:  # Ctrl-C or SIGTERM before serving (a kernel build takes minutes)
        print(start_interrupted_text(exc, f"while loading model {args.model!r}" if loading else "while starting"), file=sys.stderr)
        if server is not None:
            server.shutdown("signal")
        return 0
    except Exception as exc:  # noqa: BLE001 - any failure to load is exit code 3 with the reason
        if not loading:
            raise
        if not isinstance(exc, SDSegError):
            log.exception("loading the model failed")
        print(f"sdseg-engine: cannot load model {args.model!r}: {type(exc).__name__ + ': ' if not isinstance(exc, SDSegError) else ''}"
              f"{exc}", file=sys.stderr)
        server.shutdown()
        return 3
    finally:
        restore()
    card = predictor.model_card
    # "host": where a client on this machine connects (127.0.0.1 for a wildcard 0.0.0.0); "listen_host": the bound address
    ready = {"event": "ready", "host": client_address(server.host), "listen_host": server.host, "port": port,
             "pid": os.getpid(), "protocol": PROTOCOL_VERSION, "model_id": getattr(card, "model_id", ""), "device": str(predictor.device),
             "compiled_rows": predictor.compiled_rows,  # None: eager; else compiled packages run
             "startup_timings": {k: round(v, 3) for k, v in timings.items()}}
    # from here a second Ctrl-C raises KeyboardInterrupt (stop_on_signals): the ready line may block on a parent slow
    # to read it, so the lines up to the serve loop are in the same try as the loop (a traceback there, before)
    try:
        unwritable = write_ready_line(ready)
        if isinstance(unwritable, BrokenPipeError):  # the parent died while the model loaded: nobody can learn the port
            log.info("stdout is closed (the parent process is gone); not serving")
            parent_gone.set()
            server.stop("parent_exited")
        elif unwritable is not None:  # stdout was never writable (">&-", "1</dev/null"): whoever started it knows the port
            log.warning("cannot write the ready line (JSON) to stdout (%s); serving on %s:%d anyway. The line was: %s",
                        unwritable, server.host, port, json.dumps(ready))
        route_stdout_to_stderr()
        if not parent_gone.is_set():
            log.info("ready on %s:%d (model %s, device %s)%s", server.host, port, log_safe(ready["model_id"]), ready["device"],
                     "" if ready["host"] == server.host else f"; clients on this machine connect to {ready['host']}")
        server.serve_forever()
    except KeyboardInterrupt:  # a second Ctrl-C while the shutdown waits for the job's batch: stop waiting, in one line
        print("sdseg-engine: interrupted again (Ctrl-C) while shutting down; stopped without waiting for the running job.",
              file=sys.stderr)
        try:
            server.shutdown("signal", job_wait_s=0.0)  # its client still hears engine_shutdown; connections close
        except KeyboardInterrupt:  # a third one: the process exits now all the same
            pass
    log.info("engine stopped")
    if private_dir is not None and parent_gone.is_set():  # nobody else is left to delete the token
        remove_private_dir(private_dir)
    return 0


def _load(args: argparse.Namespace) -> Tuple[Any, Dict[str, float]]:
    """Import torch, load the model, apply the compile policy and warm up; returns (predictor, timings)."""
    timings: Dict[str, float] = {}
    started = time.perf_counter()
    import torch

    if args.threads > 0:
        torch.set_num_threads(usable_threads(args.threads))
    from ..pipeline import SDSegPipeline

    timings["import_s"] = time.perf_counter() - started
    folder = resolve_model(args.model, args.registry)
    log.info("loading model from %s on %s", folder, args.device)
    mark = time.perf_counter()
    predictor = SDSegPipeline.from_pretrained(folder, device=args.device, dtype=args.dtype)
    timings["load_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    predictor.apply_compile_policy(args.compile, report=log.info)
    timings["compile_s"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if not args.no_warmup:
        # one forward pass now, so that the first job does not pay for lazy kernel set-up; with
        # compiled kernels, a batch large enough to run them
        import numpy as np

        size = int(predictor.sample_size)
        rows = predictor.compiled_rows
        slices = 1 if rows is None else -(-rows // predictor.num_network_classes)
        predictor.predict_probabilities(np.zeros((slices, 3, size, size), dtype=np.float32))
    timings["warmup_s"] = time.perf_counter() - mark
    return predictor, timings
