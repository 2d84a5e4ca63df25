"""Files named by a URI or an ``ObjectStoragePath`` (a batch's inputs and output folder, images):
how a name is read, and which errors met while reading one are permanent.

A ``file://`` URI is percent-encoded (RFC 8089): ``Path("/data/my files/in.csv").as_uri()`` gives
``file:///data/my%20files/in.csv``. Its escapes are decoded, also in an ``ObjectStoragePath`` built
from such a URI (which keeps them as written), unless no file has the decoded name and one has the
name as written (a folder really called ``a%2Fb``). An object store's key (``s3://``, ``gs://``...)
is taken as written, as fsspec and the stores' own tools take it: a key may hold a ``%`` of its own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import unquote

from airflow_provider_huggingface.exceptions import ConfigurationError, HuggingFaceError, StorageReadError

if TYPE_CHECKING:
    from airflow.sdk import ObjectStoragePath

_LOCAL = frozenset({"file", "local"})
_LOCALHOST = "file://localhost/"

__all__ = ["reading_failed", "storage_path"]


def storage_path(value: str | ObjectStoragePath) -> ObjectStoragePath:
    """The ``ObjectStoragePath`` a URI or an ``ObjectStoragePath`` names, a local file's escapes decoded."""
    from airflow.sdk import ObjectStoragePath

    if isinstance(value, str) and value[: len(_LOCALHOST)].lower() == _LOCALHOST:
        value = "file:///" + value[len(_LOCALHOST) :]  # RFC 8089: the same file as file:///
    path = value if isinstance(value, ObjectStoragePath) else ObjectStoragePath(value)
    if path.protocol not in _LOCAL or "%" not in path.path:
        return path
    decoded = path.with_segments(unquote(path.path))
    if decoded.path == path.path or (path.exists() and not decoded.exists()):
        return path
    return decoded


def reading_failed(error: Exception, what: str) -> NoReturn:
    """Raise what reading ``what`` (such as ``inputs='s3://...'``) failing with ``error`` means.

    Permanent (a :class:`ConfigurationError`) for what another try cannot cure: a missing file, a
    folder where a file belongs, a name no file system understands. Anything else (a timeout, a
    dropped connection, an object store's 5xx, expired credentials) is a :class:`StorageReadError`,
    left to Airflow's task retries, its traceback chained to the cause.
    """
    if isinstance(error, HuggingFaceError):
        raise error
    if isinstance(error, FileNotFoundError):
        raise ConfigurationError(
            f"{what}: there is no such file. Check the path, or that an upstream task wrote it before "
            "this one."
        ) from None
    if isinstance(error, (IsADirectoryError, NotADirectoryError)):
        raise ConfigurationError(f"{what} names a folder, not a file: give the file's own path.") from None
    if isinstance(error, (ValueError, TypeError, ImportError)):
        # Such as "No filesystem registered for scheme s3": the provider of that scheme is missing.
        raise ConfigurationError(
            f"{what} cannot be read: {_cause(error)}. Check the URI, and that the Airflow provider of "
            "its scheme is installed (apache-airflow-providers-amazon for s3://, -google for gs://)."
        ) from None
    raise StorageReadError(
        f"{what} could not be read: {_cause(error)}. Left to the task's retries, as a network error, a "
        "timeout or a storage server error may pass; if it persists, check the storage and its connection."
    ) from error


def _cause(error: Any) -> str:
    return f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
