"""File helpers: atomic writes (temporary file in the destination folder, then ``os.replace``)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_destination", "write_bytes_atomic", "write_text_atomic"]


def _umask() -> int:
    try:  # Linux: read it without changing it (os.umask is process-wide and not thread-safe)
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    current = os.umask(0o022)
    os.umask(current)
    return current


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _remove_orphans(final: Path) -> None:
    """Remove temporary files of ``final`` left by writers that no longer run."""
    prefix = f".{final.stem}."
    suffix = f".tmp{final.suffix}"
    with contextlib.suppress(OSError):
        for candidate in final.parent.iterdir():
            name = candidate.name
            if not (name.startswith(prefix) and name.endswith(suffix)):
                continue
            pid = name[len(prefix):].split(".", 1)[0]
            if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
                with contextlib.suppress(OSError):
                    candidate.unlink()


@contextlib.contextmanager
def atomic_destination(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; move it onto ``target`` on success.

    The result keeps ``target``'s permissions when it exists (default ones otherwise).
    The temporary file lives in the same folder (so ``os.replace`` is an atomic rename) and
    keeps the target's suffix (pynwb warns about names not ending in ``.nwb``).  On any
    error the temporary file is removed and ``target`` is left as it was.  A process killed
    mid-write (``kill -9``, power loss) cannot remove its temporary file: its name carries the
    writer's process id, and the next write of the same target removes it once that process
    is gone.

    Parameters
    ----------
    target : str or os.PathLike
        Final path.

    Yields
    ------
    pathlib.Path
        Where to write; the (empty) file already exists.
    """
    final = Path(target)
    if final.is_dir():
        msg = f"Cannot write {final}: it is a directory. Give a file name."
        raise IsADirectoryError(msg)
    if not final.parent.is_dir():
        msg = f"Cannot write {final}: the folder {final.parent} does not exist. Create it or choose another path."
        raise FileNotFoundError(msg)
    _remove_orphans(final)
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{final.stem}.{os.getpid()}.", suffix=f".tmp{final.suffix}", dir=final.parent
        )
    except OSError as err:
        raise _write_error(final, err) from None
    os.close(handle)
    tmp = Path(name)
    # mkstemp creates the file with mode 0600; give the result the usual permissions.
    mode = final.stat().st_mode & 0o777 if final.exists() else 0o666 & ~_umask()
    tmp.chmod(mode)
    try:
        yield tmp
        os.replace(tmp, final)
    except BaseException as err:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        if isinstance(err, OSError) and err.filename in (str(tmp), str(final)):
            raise _write_error(final, err) from None
        raise


def _write_error(final: Path, err: OSError) -> OSError:
    """The error of a failed write, naming the destination (not the temporary file)."""
    reason = err.strerror or str(err)
    msg = f"Cannot write {final}: {reason}. Choose a writable location (or free disk space) and try again."
    error = type(err)(msg)
    error.errno = err.errno
    return error


def write_bytes_atomic(target: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``target`` atomically (see :func:`atomic_destination`); create the folder."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    with atomic_destination(final) as tmp:
        tmp.write_bytes(data)
    return final


def write_text_atomic(target: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``target`` atomically."""
    return write_bytes_atomic(target, text.encode("utf-8"))
