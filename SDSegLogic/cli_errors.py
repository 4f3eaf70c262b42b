"""Exit codes of ``sdseg`` and how an exception maps to one, with the one line a user reads.

:mod:`SDSegLogic.cli` re-exports everything here (``from SDSegLogic.cli import EXIT_USAGE,
exit_code_for``). Standard library only: ``sdseg --help`` must not import torch.
"""

from __future__ import annotations

from .errors import CancelledError, CheckpointError, ConfigError, GeometryError, InputError, ModelCardError, SDSegError

__all__ = ["EXIT_OK", "EXIT_UNEXPECTED", "EXIT_USAGE", "EXIT_INPUT", "EXIT_MODEL", "EXIT_CANCELLED", "EXIT_OUTPUT",
           "EXIT_RESOURCE", "UsageError", "OutputError", "ResourceError", "exit_code_for", "describe_error",
           "is_cpu_out_of_memory"]

EXIT_OK, EXIT_UNEXPECTED, EXIT_USAGE, EXIT_INPUT, EXIT_MODEL, EXIT_CANCELLED, EXIT_OUTPUT, EXIT_RESOURCE = range(8)

# How PyTorch's CPU allocator words a failed allocation (a plain RuntimeError): Linux/macOS, then Windows.
_CPU_ALLOCATOR_FAILURES = ("DefaultCPUAllocator: can't allocate memory", "DefaultCPUAllocator: not enough memory")


class UsageError(SDSegError, ValueError):
    """Command-line arguments that cannot work together (exit code 2)."""


class OutputError(SDSegError, OSError):
    """An output cannot be written (exit code 6)."""


class ResourceError(SDSegError, RuntimeError):
    """The requested device is missing or memory ran out (exit code 7)."""


def is_cpu_out_of_memory(exc: BaseException) -> bool:
    """Whether ``exc`` is PyTorch's CPU allocator failing (a ``RuntimeError`` that names ``DefaultCPUAllocator``)."""
    return isinstance(exc, RuntimeError) and any(text in str(exc) for text in _CPU_ALLOCATOR_FAILURES)


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code of an exception (see :data:`SDSegLogic.cli.EXIT_CODES`)."""
    if isinstance(exc, (CancelledError, KeyboardInterrupt)):
        return EXIT_CANCELLED
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, (ResourceError, MemoryError)) or type(exc).__name__ == "OutOfMemoryError" \
            or is_cpu_out_of_memory(exc):
        return EXIT_RESOURCE
    if isinstance(exc, OutputError):
        return EXIT_OUTPUT
    if isinstance(exc, (InputError, GeometryError)):
        return EXIT_INPUT
    if isinstance(exc, (ConfigError, ModelCardError, CheckpointError)):
        return EXIT_MODEL
    return EXIT_UNEXPECTED


def describe_error(exc: BaseException) -> str:
    """One line for the user: the message, plus a remedy for out-of-memory errors."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted; nothing more was written."
    text = " ".join(str(exc).split()) or type(exc).__name__
    if is_cpu_out_of_memory(exc):  # it ran on the CPU: --device cpu is no remedy
        text = (f"out of memory ({text}); retry with a smaller --batch-size (or fewer --samples), or close other "
                "programs.")
    elif exit_code_for(exc) == EXIT_RESOURCE and not isinstance(exc, ResourceError) and "--device cpu" not in text:
        text = f"out of memory ({text}); retry with a smaller --batch-size or --device cpu."
    elif exit_code_for(exc) == EXIT_UNEXPECTED:
        text = f"{type(exc).__name__}: {text} (unexpected; rerun with --debug and report the traceback)"
    return text
