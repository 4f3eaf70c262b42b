"""What the panel tells about a failure and what "Copy diagnostics" copies (pure Python, no Slicer, no Qt)."""

from __future__ import annotations

import platform
import re
from typing import Any, Dict, Tuple

from SDSegLogic.redact import REDACTED, redact_url  # one rule for the engine, the CLI and the panel

__all__ = ["error_report", "error_dialog", "diagnostics_text", "describe_engine", "redact_url", "REDACTED"]

_TAGS = re.compile(r"<[^>]+>")
_LOG_INTRODUCTIONS = ("Engine log (last lines):", "Last engine log lines:")
"""How the engine's messages introduce the log lines they quote (``SDSegLogic.server``: a failed start, a dead engine)."""
LOG_IN_DETAILS = "The engine log's last lines are under Show Details."


def error_report(text: str, data: Dict[str, Any]) -> Tuple[str, str]:
    """The engine-log part of a failed job's error, for the dialog and for the status log.

    Args:
        text: the error event's text (a dead engine's message may already quote its log).
        data: the error event's data; ``log_tail`` is set for an internal error or a dead
            local engine (:data:`SDSegLib.engine_runner.ENGINE_LOG_CODES`).

    Returns:
        (dialog details, status-log lines); both ``""`` when there is no engine log to show,
        the status-log part also when ``text`` already holds the log's last line.
    """
    tail = str(data.get("log_tail") or "").strip()
    if not tail:
        return "", ""
    details = "Engine log (last lines):\n" + tail
    return details, ("" if tail.splitlines()[-1] in text else details)


def error_dialog(text: str, data: Dict[str, Any]) -> Tuple[str, str]:
    """(message, detailed text) of the error dialog of a failed job: the engine log shown once, in the details.

    A dead or failed-to-start local engine's message already quotes the log's last lines (after
    one of :data:`_LOG_INTRODUCTIONS`); the dialog's details show the log too (``data["log_tail"]``,
    :func:`error_report`). The quoted lines are left out of the message, which keeps what comes
    before them and a remark glued after the last one (e.g. "Stop the engine and start it again").

    Args:
        text: the error event's text. data: its data (``log_tail`` when the engine log applies).

    Returns:
        (message, details); ``details`` is ``""`` and ``message`` is ``text`` when there is no engine log.
    """
    details = error_report(text, data)[0]
    found = [(text.find(intro), intro) for intro in _LOG_INTRODUCTIONS if intro in text]
    if not details or not found:
        return text, details
    start, intro = min(found)
    head, quoted = text[:start].rstrip(), text[start + len(intro):].strip().splitlines()
    log_lines = {line.strip() for line in str(data.get("log_tail") or "").splitlines() if line.strip()}
    log_lines.update(line.strip() for line in quoted[:-1] if line.strip())  # all but the last: the remark may follow it
    last = quoted[-1].strip() if quoted else ""
    remark = "" if last in log_lines else last
    for line in sorted(log_lines, key=len, reverse=True):  # the longest log line that the last quoted line starts with
        if last.startswith(line):
            remark = last[len(line):].strip().lstrip(".").strip()
            break
    return "\n".join(part for part in (f"{head} {LOG_IN_DETAILS}".strip(), remark) if part), details


def diagnostics_text(versions: str, device_line: str, model: str, model_card: Dict[str, Any], log_path: str,
                     log_tail: str, slicer_version: str = "", remote_url: str = "") -> str:
    """Plain text to paste into a forum post or an issue.

    Args:
        versions: the engine and package versions (``SDSegModuleLogic.versionsText``).
        device_line: what the panel shows about the engine's device (rich text is flattened).
        model: the selected model spec; ``model_card``: its card (``{}`` when not readable here).
        log_path, log_tail: the session's engine log file and its last lines (``""`` before the
            first local engine).
        slicer_version: Slicer's version. remote_url: the remote engine, if one is used (shown
            without its userinfo and query values: :func:`redact_url`).
    """
    device = " ".join(_TAGS.sub("", device_line).split()) or "-"
    identity = f"{model_card.get('model_id', '?')} v{model_card.get('version', '?')}" if model_card else "card not readable here"
    lines = [
        "SDSeg diagnostics",
        f"Slicer: {slicer_version or 'unknown'}; Python {platform.python_version()} on {platform.platform()}",
        f"Versions: {versions}",
        f"Device: {device}",
        f"Model: {model} ({identity})",
        f"Engine: remote {redact_url(remote_url)}" if remote_url else "Engine: local",
        f"Engine log: {log_path or 'none yet (no local engine started in this session)'}",
    ]
    if log_tail.strip():
        lines += ["Engine log, last lines:", log_tail.strip()]
    return "\n".join(lines) + "\n"


def describe_engine(info: Dict[str, Any]) -> str:
    """One line about the engine's device and memory, from its ``info`` reply."""
    device = str(info.get("device", "?"))
    cuda = (info.get("devices") or {}).get("cuda") or []
    if device.startswith("cuda") and cuda:
        gpu = cuda[0]
        precision = info.get("dtype")
        if info.get("unet_dtype") and info.get("unet_dtype") != precision:
            precision = f"{precision} (UNet {info.get('unet_dtype')})"
        compiled = ", compiled kernels" if info.get("compiled") else ""
        return f"GPU: {gpu.get('name')} ({gpu.get('free_gib')} of {gpu.get('total_gib')} GiB free), {precision}{compiled}"
    mem = info.get("host_memory") or {}
    threads = (info.get("devices") or {}).get("cpu_threads")
    gpus = ", no CUDA GPU found" if not cuda else f", GPU {cuda[0].get('name')} not used"
    threads_text = "1 thread" if threads == 1 else f"{threads} threads"  # a one-thread engine: "1 thread"
    return f"CPU: {threads_text}, {mem.get('available_gib')} of {mem.get('total_gib')} GiB RAM free{gpus}"
