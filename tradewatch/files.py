"""Writing an output file whole or not at all, so no reader ever sees half of it."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def write_atomically(path: str | Path, content: str) -> None:
    """Write content to a scratch file beside path, then rename it over path in one step."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Same folder: a rename within one file system is atomic; a dot name keeps collectors off it.
    handle, scratch = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(content)
            out.flush()
            os.fsync(out.fileno())
        # mkstemp makes the file private; readers such as node_exporter run as another user.
        os.chmod(scratch, 0o666 & ~_umask())
        os.replace(scratch, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(scratch)
        raise


def _umask() -> int:
    """The process's file creation mask (Python 3.11 can only read it by setting it)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
