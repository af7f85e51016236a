"""Opening Zarr v3 groups on local paths and fsspec URLs, and the codec choice.

Local paths (and `file://` URLs) are what tests and single machines use; `s3://`, `gs://`
and other fsspec URLs are what a cluster uses, with credentials from the environment.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import zarr
import zarr.codecs
import zarr.errors

from ntscale.errors import StoreError

logger = logging.getLogger(__name__)

# Cheap settings: float embeddings compress poorly (see docs/benchmarks.md, "Store writes"), so a
# higher level buys a few percent of size for a large loss of writer throughput.
ZSTD_LEVEL = 1
BLOSC_CNAME = "zstd"
BLOSC_LEVEL = 1


def is_url(url: str) -> bool:
    return "://" in url


def local_path(url: str) -> Path | None:
    """The filesystem path of a local path or file:// URL; None for remote URLs."""
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    if is_url(url):
        return None
    return Path(url).expanduser()


def _zarr_target(url: str) -> tuple[str, dict[str, Any] | None]:
    if url.startswith("file://"):
        # fsspec's local filesystem does not create parent folders unless asked to.
        return url, {"auto_mkdir": True}
    if is_url(url):
        return url, None
    return str(Path(url).expanduser()), None


def xarray_target(url: str) -> str:
    """What to hand `xr.open_zarr` for a store URL (a local path stays a path)."""
    return _zarr_target(url)[0]


def storage_options(url: str) -> dict[str, Any] | None:
    """fsspec options for `xr.open_zarr` / `zarr.open_group` (None: the defaults)."""
    return _zarr_target(url)[1]


def read_bytes(url: str, key: str) -> bytes | None:
    """The bytes of one object of a store (None if absent), local or fsspec."""
    path = local_path(url)
    try:
        if path is not None:
            return (path / key).read_bytes()
        import fsspec

        with fsspec.open(f"{url.rstrip('/')}/{key}", "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None


def has_consolidated(url: str) -> bool:
    """True if the root zarr.json holds consolidated metadata (written by `finalize`)."""
    raw = read_bytes(url, "zarr.json")
    if raw is None:
        return False
    try:
        return bool(json.loads(raw).get("consolidated_metadata"))
    except ValueError:
        return False


def open_group(url: str, mode: str) -> zarr.Group:
    """Open the root group of a store (mode "r", "r+", "w-" or "w").

    Raises:
        FileNotFoundError, zarr.errors.GroupNotFoundError: no store at `url` (mode "r"/"r+").
    """
    target, options = _zarr_target(url)
    # Writers and the driver never trust consolidated metadata (it is written at the end of
    # a run and may predate a re-created array); readers get it through xr.open_zarr.
    kwargs: dict[str, Any] = {"mode": mode, "zarr_format": 3, "use_consolidated": False}
    if options:
        kwargs["storage_options"] = options
    try:
        return zarr.open_group(target, **kwargs)
    except json.JSONDecodeError as e:
        raise StoreError(
            f"the metadata of the store at {url!r} is damaged (zarr.json is not valid JSON: "
            f"{e}); delete the store to start over, or choose another --out path"
        ) from e
    except (ImportError, ValueError) as e:
        raise _protocol_error(url, e) from e


def _protocol_error(url: str, err: ImportError | ValueError) -> StoreError:
    """The StoreError for a URL whose protocol fsspec does not know or cannot load."""
    if isinstance(err, ImportError):  # fsspec knows the protocol, its package is not installed
        return StoreError(f"cannot open {url!r}: {err}; install the package it names")
    if "Protocol not known" not in str(err):
        raise err
    proto = url.split("://", 1)[0]
    return StoreError(
        f"unknown storage protocol {proto!r} in {url!r}; use a local path or an fsspec "
        "URL such as file://, s3:// or gs://"
    )


def filesystem(url: str) -> tuple[Any, str]:
    """(fsspec filesystem, path inside it) of a store URL; unknown protocols are a StoreError."""
    import fsspec

    try:
        return fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as e:
        raise _protocol_error(url, e) from e


def check_target(url: str) -> None:
    """Refuse a local output path that is a regular file or a folder of other data.

    Looks at names only (no file is read), so it is safe while another run writes there.
    """
    path = local_path(url)
    if path is not None:
        if path.is_file():
            raise StoreError(
                f"output store path {url!r} is a regular file, not a Zarr store; "
                "choose another --out path"
            )
        foreign = [p for p in path.iterdir() if p.name != "lease"] if path.is_dir() else []
        if foreign and not (path / "zarr.json").exists():
            raise StoreError(
                f"output store path {url!r} is a non-empty folder that is not a "
                "Zarr store; choose a new --out path or empty the folder"
            )


def check_remote_target(url: str) -> None:
    """Refuse an fsspec URL (e.g. a bucket root) that holds objects but no Zarr store
    (one listing; local paths: `check_target`)."""
    if local_path(url) is not None:
        return
    fs, root = filesystem(url)
    try:
        fs.invalidate_cache(root)
        names = [p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False)]
    except (FileNotFoundError, NotADirectoryError):
        return
    foreign = sorted(n for n in names if n not in ("lease", "zarr.json"))
    if foreign and "zarr.json" not in names:
        shown = ", ".join(foreign[:3]) + (", ..." if len(foreign) > 3 else "")
        raise StoreError(
            f"output store {url!r} already holds other objects ({shown}) and is not a Zarr "
            "store; choose a new --out prefix such as "
            f"{url.rstrip('/')}/run1.zarr"
        )


def group_exists(url: str) -> bool:
    """True if `url` holds a Zarr group; StoreError if it holds something else."""
    check_target(url)
    path = local_path(url)
    if path is not None and not (path / "zarr.json").exists():
        return False
    try:
        open_group(url, "r")
    except (FileNotFoundError, zarr.errors.GroupNotFoundError):
        return False
    except zarr.errors.ContainsArrayError as e:
        raise StoreError(f"{url!r} holds a Zarr array, not an ntscale store") from e
    return True


def open_existing(url: str, mode: str) -> zarr.Group:
    """Open an existing store, turning 'not found' into a StoreError naming the URL."""
    try:
        return open_group(url, mode)
    except (FileNotFoundError, zarr.errors.GroupNotFoundError) as e:
        raise StoreError(
            f"no ntscale store at {url!r} (nothing there, or not a Zarr v3 group)"
        ) from e
    except zarr.errors.ContainsArrayError as e:
        raise StoreError(f"{url!r} holds a Zarr array, not an ntscale store") from e


def check_writable(url: str) -> None:
    """Fail early, naming the path, if a local store folder cannot be written."""
    path = local_path(url)
    if path is None:
        return
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        raise StoreError(
            f"cannot write the output store at {url!r}: {str(probe)!r} is a regular "
            "file, not a folder; choose a writable --out path"
        )
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise StoreError(
            f"cannot write the output store at {url!r}: {str(probe)!r} is not "
            "writable; choose a writable --out path"
        )


def write_error(url: str, err: OSError) -> StoreError:
    """A StoreError naming the store URL for an OS-level write failure."""
    reason = err.strerror or str(err)
    where = f" ({err.filename})" if getattr(err, "filename", None) else ""
    return StoreError(
        f"cannot write the output store at {url!r}: {reason}{where}; choose a writable --out path"
    )


def compressors(codec: str) -> Any:
    """Zarr v3 compressor chain for a layout's codec name."""
    if codec == "zstd":
        return (zarr.codecs.ZstdCodec(level=ZSTD_LEVEL),)
    if codec == "blosc":
        return (zarr.codecs.BloscCodec(cname=BLOSC_CNAME, clevel=BLOSC_LEVEL, shuffle="shuffle"),)
    if codec == "none":
        return None
    raise StoreError(f"unknown codec {codec!r}")


_UNREACHABLE = ("EndpointConnectionError", "ConnectTimeoutError", "ClientConnectorError")
_NO_CREDENTIALS = ("NoCredentialsError", "PartialCredentialsError")
CREDENTIAL_SOURCES = (
    "AWS_ACCESS_KEY_ID + AWS_SECRET_ACCESS_KEY in the environment, AWS_PROFILE or the "
    "default profile in ~/.aws/credentials (AWS_SHARED_CREDENTIALS_FILE) and ~/.aws/config "
    "(AWS_CONFIG_FILE), or an instance/container role"
)


def cloud_setup_error(err: BaseException) -> StoreError | None:
    """A one-line StoreError for an object-store set-up failure anywhere in `err`'s chain
    (endpoint unreachable, no credentials), or None. Matched by class name, so botocore and
    aiohttp need not be importable."""
    seen: set[int] = set()
    e: BaseException | None = err
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        names = {c.__name__ for c in type(e).__mro__}
        if names & set(_UNREACHABLE):
            return StoreError(
                f"cannot reach the object store endpoint {_endpoint(e)}: {e}; check the "
                "endpoint URL (AWS_ENDPOINT_URL) and that the server is running"
            )
        if names & set(_NO_CREDENTIALS):
            return StoreError(
                f"no credentials for the object store ({e}); looked in: {CREDENTIAL_SOURCES}"
            )
        e = e.__cause__ or e.__context__
    return None


def _endpoint(err: BaseException) -> str:
    from urllib.parse import urlsplit

    url = str(getattr(err, "kwargs", {}).get("endpoint_url") or "")
    env = os.environ.get("AWS_ENDPOINT_URL")
    if url:
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        return f"{base} (AWS_ENDPOINT_URL)" if env and env.rstrip("/") == base else base
    return f"{env} (AWS_ENDPOINT_URL)" if env else "of the store URL"
