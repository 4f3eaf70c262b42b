"""sha256 of weight files, optionally computed on worker threads while the model is being built.

Verifying a model folder reads every weight file once more (788 MB for the paper preset in
fp16: about 0.7 s on one core). ``hashlib`` and file reads release the GIL, so the digests can
be computed on worker threads while the main thread does GIL-bound work that does not use the
weights yet: importing diffusers and building the modules (about 4 s on a 2-core CPU). Nothing
is trusted before the check: :meth:`BackgroundVerification.raise_if_mismatch` waits for every
digest, and the loader calls it before it returns a model.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Dict, Mapping, Optional, Union

from .errors import CheckpointError

__all__ = ["sha256_file", "BackgroundVerification", "default_hash_workers"]

PathLike = Union[str, "os.PathLike[str]"]


def sha256_file(path: PathLike, chunk_size: int = 1 << 22) -> str:
    """Hex sha256 digest of a file, read in 4 MiB chunks (the GIL is released while hashing)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(chunk_size), b""):
            digest.update(chunk)
    return digest.hexdigest()


def default_hash_workers(files: int) -> int:
    """Worker threads for ``files`` digests: at most one per file, leaving one core to the caller."""
    return max(1, min(files, (os.cpu_count() or 2) - 1, 4))


class BackgroundVerification:
    """Digests of a set of files, computed on worker threads from construction on.

    Args:
        expected: file path -> expected lower-case hex sha256 (as in the model card).
        workers: worker threads; ``None`` = :func:`default_hash_workers`.

    Example::

        check = BackgroundVerification({path: card_digest})
        model = build_model()           # GIL-bound work, overlapped with the hashing
        check.raise_if_mismatch()       # waits; raises CheckpointError on a corrupt file
    """

    def __init__(self, expected: Mapping[Path, str], workers: Optional[int] = None) -> None:
        self._expected: Dict[Path, str] = {Path(p): str(d).lower() for p, d in expected.items()}
        self._futures: Dict[Path, Future] = {}
        if not self._expected:
            return
        pool = ThreadPoolExecutor(max_workers=workers or default_hash_workers(len(self._expected)),
                                  thread_name_prefix="sdseg-sha256")
        # largest file first: it bounds the wall time when there are several workers
        for path in sorted(self._expected, key=_size_or_zero, reverse=True):
            self._futures[path] = pool.submit(sha256_file, path)
        pool.shutdown(wait=False)

    def raise_if_mismatch(self) -> None:
        """Wait for every digest; raise :class:`CheckpointError` naming the first bad file.

        Raises:
            CheckpointError: a file's sha256 differs from the expected one, or it cannot be read.
        """
        for path, future in self._futures.items():
            try:
                actual = future.result()
            except OSError as exc:
                raise CheckpointError(f"{path}: cannot be read to verify its sha256 ({exc}); restore the file.") from None
            expected = self._expected[path]
            if actual != expected:
                raise CheckpointError(
                    f"{path}: sha256 {actual[:16]}... does not match the model card ({expected[:16]}...); "
                    "the file is corrupt or was replaced. Re-download or re-export the model."
                )


def _size_or_zero(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
