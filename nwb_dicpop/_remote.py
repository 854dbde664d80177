"""Remote access for :mod:`nwb_dicpop.io`: HTTP(S) range streaming and DANDI asset resolution.

A URL is first probed with one small range request under a bounded timeout (clear errors for
unreachable hosts, HTTP errors, servers without range support and non-HDF5 content), then
opened lazily through an fsspec block cache (aiohttp timeouts on every request) or, when fsspec
is missing, remfile.  ``dandi://<dandiset>/<version>/<path>`` references are resolved with the
dandi client, imported only when needed (``pip install 'nwb_dicpop[dandi]'``).
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

__all__ = ["open_remote_file", "parse_dandi_reference", "probe_url", "resolve_dandi_url", "unreachable_error"]

logger = logging.getLogger(__name__)

REMOTE_BLOCK_SIZE = 1 << 20
"""Bytes per HTTP range request (fsspec block cache)."""
_DANDI_INSTALL_HINT = "pip install 'nwb_dicpop[dandi]'"


def unreachable_error(what: str, err: BaseException, timeout: float) -> ConnectionError:
    """A ConnectionError saying why ``what`` (a URL or a description) could not be reached.

    The message names the real cause: a refused connection (nothing listens on that port), a
    host name that does not resolve, no answer within ``timeout``, or the system's reason;
    only a real timeout is reported as one.
    """
    import socket

    reason = getattr(err, "reason", err)
    if isinstance(reason, ConnectionRefusedError):
        detail = "the connection was refused (no server listens on that host and port)"
        advice = "Check the address and the port, and that the server is running."
    elif isinstance(reason, socket.gaierror):
        detail = f"the host name could not be resolved ({reason.strerror or reason})"
        advice = "Check the address for typos, and your network."
    elif isinstance(reason, TimeoutError) or isinstance(err, TimeoutError) or "timed out" in str(reason):
        detail = f"no answer within {timeout:g} s"
        advice = "Check the address and your network, or try again later."
    else:
        detail = str(getattr(reason, "strerror", None) or reason)
        advice = "Check the address and your network."
    return ConnectionError(f"Could not reach {what}: {detail}. {advice}")


def probe_url(url: str, timeout: float) -> None:
    """Fail fast, within ``timeout``, when the URL is unreachable or does not serve ranges."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, headers={"Range": "bytes=0-7"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status = response.status
            head = response.read(8)
    except urllib.error.HTTPError as err:
        msg = f"{url} answered HTTP {err.code} ({err.reason}); check the URL (or the DANDI asset path)."
        raise ValueError(msg) from err
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        raise unreachable_error(url, err, timeout) from err
    if status != 206:
        msg = (
            f"{url} does not serve byte ranges (HTTP {status} to a Range request), so it cannot be "
            "streamed; download the file and pass its local path."
        )
        raise ValueError(msg)
    if head != b"\x89HDF\r\n\x1a\n":
        msg = f"{url} does not start like an HDF5 file, so it is not an NWB file (first bytes {head!r})."
        raise ValueError(msg)


@contextlib.contextmanager
def open_remote_file(url: str, timeout: float, cache_dir: str | os.PathLike[str] | None) -> Iterator[Any]:
    try:
        import aiohttp
        import fsspec
    except ImportError:
        fsspec = None
    if fsspec is None:
        try:
            import remfile
        except ImportError as err:
            msg = "Streaming NWB from a URL needs fsspec and aiohttp (or remfile): pip install 'nwb_dicpop[remote]'."
            raise ImportError(msg) from err
        handle = remfile.File(url)
        try:
            yield handle
        finally:
            handle.close()
        return
    client_timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout, sock_read=timeout)
    filesystem = fsspec.filesystem("http", client_kwargs={"timeout": client_timeout}, skip_instance_cache=True)
    if cache_dir is not None:
        from fsspec.implementations.cached import CachingFileSystem

        filesystem = CachingFileSystem(fs=filesystem, cache_storage=os.fspath(cache_dir), skip_instance_cache=True)
        handle = filesystem.open(url, "rb", block_size=REMOTE_BLOCK_SIZE)
    else:
        handle = filesystem.open(url, "rb", cache_type="blockcache", block_size=REMOTE_BLOCK_SIZE)
    try:
        yield handle
    finally:
        handle.close()


def parse_dandi_reference(reference: str) -> tuple[str, str, str]:
    """Split ``dandi://<dandiset>/<version>/<path>`` into its three parts.

    Parameters
    ----------
    reference : str
        e.g. ``"dandi://000123/draft/sub-1/sub-1_ecephys.nwb"`` (``"DANDI:000123/..."`` also
        accepted).

    Returns
    -------
    (str, str, str)
        Dandiset id (6 digits), version (``"draft"`` or a published version) and asset path.
    """
    body = reference.split("://", 1)[1] if "://" in reference else reference.split(":", 1)[1]
    parts = body.strip("/").split("/", 2)
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[0]) != 6 or not parts[2]:
        msg = (
            f"`source` {reference!r} is not a DANDI asset reference; expected "
            "'dandi://<6-digit dandiset>/<version or draft>/<asset path>', e.g. "
            "'dandi://000123/draft/sub-1/sub-1_ecephys.nwb'."
        )
        raise ValueError(msg)
    return parts[0], parts[1], parts[2]


def _probe_api(api_url: str, timeout: float) -> None:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(api_url.rstrip("/") + "/info/", timeout=timeout):
            pass
    except urllib.error.HTTPError:
        return  # reachable; the client reports what is wrong
    except (urllib.error.URLError, TimeoutError, OSError) as err:
        error = unreachable_error(f"the DANDI archive at {api_url}", err, timeout)
        msg = f"{error} Or pass the asset's https:// URL."
        raise ConnectionError(msg) from err


def resolve_dandi_url(reference: str, *, timeout: float = 30.0) -> str:
    """Resolve a ``dandi://`` asset reference to the asset's HTTPS content URL.

    Parameters
    ----------
    reference : str
        ``"dandi://<dandiset>/<version>/<path>"``.
    timeout : float
        Seconds allowed to reach the archive API (one probe request before the client's calls).

    Returns
    -------
    str
        The S3 (https) URL of the asset, without query string.

    Raises
    ------
    ImportError
        The dandi client is not installed (``pip install 'nwb_dicpop[dandi]'``).
    ValueError
        The reference is malformed, or the dandiset, version or asset does not exist.
    ConnectionError
        The archive could not be reached.
    """
    dandiset_id, version, asset_path = parse_dandi_reference(reference)
    try:
        from dandi.dandiapi import DandiAPIClient
    except ImportError as err:
        msg = (
            f"Reading {reference!r} needs the dandi client, which is not installed: "
            f"{_DANDI_INSTALL_HINT}. Or pass the asset's https:// URL directly."
        )
        raise ImportError(msg) from err
    try:
        with DandiAPIClient() as client:
            api_url = getattr(client, "api_url", None)
            if isinstance(api_url, str):
                _probe_api(api_url, timeout)  # the client's own requests have no bounded timeout
            dandiset = client.get_dandiset(dandiset_id, version)
            asset = dandiset.get_asset_by_path(asset_path)
            url = asset.get_content_url(follow_redirects=1, strip_query=True)
    except (ConnectionError, TimeoutError) as err:
        msg = f"Could not reach the DANDI archive to resolve {reference!r} ({err})."
        raise ConnectionError(msg) from err
    except Exception as err:  # the client raises its own NotFoundError / HTTPError types
        if type(err).__name__ in ("ConnectionError", "Timeout", "ConnectTimeout", "ReadTimeout"):
            msg = f"Could not reach the DANDI archive to resolve {reference!r} ({err})."
            raise ConnectionError(msg) from err
        msg = (
            f"DANDI could not resolve {reference!r}: dandiset {dandiset_id}, version {version!r}, "
            f"asset {asset_path!r} ({type(err).__name__}: {err}). Check the ids and the path."
        )
        raise ValueError(msg) from err
    logger.info("Resolved %s to %s", reference, url)
    return str(url)
