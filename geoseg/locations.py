"""Where input files are: local paths, HTTP(S) URLs and S3 objects, as one kind of value.

A location is a string every process can use as it stands: an absolute local path,
``http(s)://host/path`` or ``s3://bucket/key``. Tasks carry locations to workers, whose working
directory (and, on a real cluster, disk) is not the caller's. GDAL reads remote files window by
window with range requests (``/vsicurl/``, ``/vsis3/``); how it reaches them (endpoint,
credentials, retries) is set by environment variables (``REMOTE_SETTINGS``), which the client
passes on to every worker of a run, and which never appear in outputs or messages (``redact``).
"""

import fnmatch
import os
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from geoseg.errors import ConfigError, SceneError

# The environment variables that say how GDAL (and boto3, to list S3 prefixes) reach remote
# files; the client's values reach every worker for the run.
REMOTE_SETTINGS = (
    "AWS_*",
    "GDAL_HTTP_*",
    "GDAL_DISABLE_READDIR_ON_OPEN",
    "CPL_VSIL_CURL_*",
    "CPL_CURL_*",
    "VSI_CACHE*",
)
SECRETS = ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "GDAL_HTTP_USERPWD", "GDAL_HTTP_HEADERS")
_FALSE = ("NO", "FALSE", "OFF", "0")
T = TypeVar("T")


def is_remote(location: str | Path) -> bool:
    """Is ``location`` a file over HTTP(S) or in S3 (read window by window by GDAL)?"""
    return str(location).startswith(("http://", "https://", "s3://"))


def is_s3(location: str | Path) -> bool:
    return str(location).startswith("s3://")


def gdal_path(location: str) -> str:
    """The name GDAL opens ``location`` by: ``s3://b/k`` is ``/vsis3/b/k`` (configured by the
    ``AWS_*`` settings alone, not by a boto3 session); URLs and paths as they are."""
    return "/vsis3/" + location[len("s3://") :] if is_s3(location) else location


def absolute(path: str | Path) -> Path:
    """``path`` from the caller's working directory, as every process can use it: tasks carry
    paths to workers, whose working directory is not the caller's."""
    return Path(os.path.abspath(path))


def output_folder(path: str | Path) -> Path:
    """``path`` as an output folder every process can use (absolute), checked before anything
    starts: outputs go to a folder on a filesystem every worker sees, not to a file or a URL."""
    if is_remote(path):
        raise ConfigError(
            f"{path}: outputs go to a folder on a shared filesystem, not to a URL or a bucket"
        )
    folder = absolute(path)
    if folder.exists() and not folder.is_dir():
        raise ConfigError(f"{folder}: is a file; the output must be a folder")
    return folder


def location(text: str | Path) -> str:
    """A remote location as it is; a local path made absolute."""
    return str(text) if is_remote(text) else str(absolute(text))


def printable(text: str | Path) -> str:
    """``text`` (a path, or a name made from one) with the bytes of a file name that are not
    UTF-8 written as ``\\xNN`` escapes: Python keeps them as lone surrogates, which GDAL, JSON,
    msgpack (Dask's messages) and a strict terminal refuse."""
    return os.fsencode(text).decode("utf-8", "backslashreplace")


def name_of(location: str) -> str:
    """The last part of a location (``s3://b/scenes/x.tif`` → ``x.tif``)."""
    return PurePosixPath(location.split("?", 1)[0].rstrip("/")).name


def parent_name(location: str) -> str:
    """The folder a location lies in (``s3://b/scenes/x.tif`` → ``scenes``)."""
    return PurePosixPath(location.split("?", 1)[0]).parent.name


def remote_settings(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of ``environ`` (default: this process's) that configure remote reads."""
    environ = os.environ if environ is None else environ
    return {
        key: value
        for key, value in environ.items()
        if any(fnmatch.fnmatchcase(key, pattern) for pattern in REMOTE_SETTINGS)
    }


def redact(text: str, environ: Mapping[str, str] | None = None) -> str:
    """``text`` with the values of secret settings (S3 secret key, session token, HTTP
    credentials) replaced by ``***``."""
    environ = os.environ if environ is None else environ
    for key in SECRETS:
        value = environ.get(key, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


@dataclass(frozen=True)
class FileStamp:
    """What identifies an input file cheaply: where it is, its size, when it last changed (for a
    URL or an S3 object: the server's ETag, else its Last-Modified)."""

    path: str
    size: int
    modified: str

    @classmethod
    def of(cls, location: str) -> "FileStamp":
        if is_s3(location):
            head = _s3_call(location, lambda s3: s3.head_object(**_bucket_key(location)))
            return cls(location, int(head["ContentLength"]), str(head.get("ETag", "")))
        if is_remote(location):
            return _url_stamp(location)
        stat = os.stat(location)
        return cls(str(Path(location).resolve()), stat.st_size, str(stat.st_mtime_ns))


def _url_stamp(url: str) -> FileStamp:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=30) as r:
            headers = r.headers
    except OSError as exc:
        raise SceneError(redact(f"{url}: cannot reach ({getattr(exc, 'reason', exc)})")) from None
    changed = headers.get("ETag") or headers.get("Last-Modified") or ""
    return FileStamp(url, int(headers.get("Content-Length") or 0), changed)


def list_s3(prefix: str) -> list[str]:
    """The objects under an ``s3://bucket/prefix`` (as ``s3://`` locations), sorted."""
    where = _bucket_key(prefix)

    def listing(s3: Any) -> list[str]:
        pages = s3.get_paginator("list_objects_v2").paginate(
            Bucket=where["Bucket"], Prefix=where["Key"]
        )
        return sorted(
            f"s3://{where['Bucket']}/{item['Key']}"
            for page in pages
            for item in page.get("Contents", ())
        )

    return _s3_call(prefix, listing, ConfigError)


def _bucket_key(location: str) -> dict[str, str]:
    bucket, _, key = location[len("s3://") :].partition("/")
    return {"Bucket": bucket, "Key": key}


def _s3_call(location: str, request: Callable[[Any], T], error: type[Exception] = SceneError) -> T:
    """``request(s3 client)``; its failure as one line (``error``) about ``location``."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return request(s3_client())
    except (BotoCoreError, ClientError) as exc:
        raise error(_s3_reason(location, exc)) from None


def _s3_reason(location: str, exc: Exception) -> str:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    if code in ("404", "NoSuchKey"):
        return f"{location}: not found in the bucket"
    if code == "NoSuchBucket":
        return f"{location}: no such bucket"
    if type(exc).__name__ == "NoCredentialsError":
        return (
            f"{location}: no S3 credentials (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
            "or AWS_NO_SIGN_REQUEST=YES for a public bucket)"
        )
    return redact(f"{location}: cannot reach ({str(exc).splitlines()[0] if str(exc) else code})")


def s3_client() -> Any:
    """A boto3 S3 client configured by the same settings GDAL reads (``AWS_S3_ENDPOINT``,
    ``AWS_HTTPS``, ``AWS_VIRTUAL_HOSTING``, ``AWS_NO_SIGN_REQUEST``, ``AWS_REGION``,
    credentials), so listing a prefix and reading its files reach the same server."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    env = os.environ
    endpoint = env.get("AWS_S3_ENDPOINT")
    scheme = "http" if env.get("AWS_HTTPS", "YES").upper() in _FALSE else "https"
    virtual = env.get("AWS_VIRTUAL_HOSTING", "TRUE").upper() not in _FALSE
    unsigned = env.get("AWS_NO_SIGN_REQUEST", "NO").upper() not in _FALSE
    config = Config(
        s3={"addressing_style": "auto" if virtual else "path"},
        retries={"max_attempts": int(env.get("GDAL_HTTP_MAX_RETRY", "3")) + 1},
        **({"signature_version": UNSIGNED} if unsigned else {}),
    )
    return boto3.client(
        "s3",
        endpoint_url=f"{scheme}://{endpoint}" if endpoint else None,
        region_name=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        config=config,
    )
