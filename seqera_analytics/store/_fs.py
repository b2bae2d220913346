"""Where a cache lives: a local directory or an object-store prefix, and the few file
operations the store needs on either.

:func:`location` turns what a user gives (a path, ``s3://bucket/prefix``, another URI
pyarrow knows) into a :class:`Location`. Paths inside a cache are always relative POSIX
strings (``tasks/workspace_id=1/month=2025-09/part-....parquet``); a location turns them
into what pyarrow reads (:meth:`Location.path` with :attr:`Location.filesystem`).

Local directories keep the operations they always had (``os.replace``, fsync of files and
directories, ``pathlib`` listing): pyarrow is given plain paths and no filesystem object.
Object stores go through :mod:`pyarrow.fs`: an object appears whole when its PUT (or
server-side copy) completes, so "write atomically" is a single upload there and there is
nothing to fsync; there are no directories, so empty ones need no removal.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import pyarrow.fs as pafs

from .._exceptions import CacheError

__all__ = ["CacheConflictError", "CacheLocationError", "Location", "is_uri", "location"]

#: Schemes that name a local directory.
#: The object stores a cache may live on (tested against a local S3 server).
_REMOTE_SCHEMES = frozenset({"s3"})
_LOCAL_SCHEMES = ("file",)
_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_USERINFO = re.compile(r"//[^/@\s'\"]*@")


class CacheLocationError(CacheError):
    """The cache location cannot be used: unknown scheme, missing bucket, no credentials."""


class CacheConflictError(CacheError):
    """Another writer committed to the cache since this writer read it."""


def is_uri(text: str) -> bool:
    """Whether ``text`` is a URI (``scheme://...``) rather than a local path."""
    return bool(_URI.match(text))


class Location:
    """A cache root on some filesystem; every ``rel`` argument is a path relative to it."""

    #: ``True`` for a local directory (os calls, fsync); ``False`` for an object store.
    local: bool = True
    #: What pyarrow readers and writers are given as ``filesystem=`` (``None``: local paths).
    filesystem: pafs.FileSystem | None = None
    #: What messages show: the directory, or the URI.
    display: str = ""

    def path(self, rel: str = "") -> str:
        """What pyarrow opens for ``rel`` (with :attr:`filesystem`)."""
        raise NotImplementedError

    def uri(self, rel: str = "") -> str:
        """``rel`` as a user would name it (a local path, or ``s3://bucket/...``)."""
        raise NotImplementedError

    # the operations the store uses; local and object-store versions below
    def read_bytes(self, rel: str) -> bytes:  # raises FileNotFoundError
        raise NotImplementedError

    def write_bytes(self, rel: str, data: bytes) -> None:
        """Readers see the old content or the new one, never a mix."""
        raise NotImplementedError

    def exists(self, rel: str) -> bool:
        raise NotImplementedError

    def is_dir(self, rel: str = "") -> bool:
        raise NotImplementedError

    def is_file(self, rel: str) -> bool:
        raise NotImplementedError

    def file_sizes(self, rels: Iterable[str]) -> dict[str, int]:
        """Sizes of those of ``rels`` that exist [bytes]."""
        raise NotImplementedError

    def existing(self, rels: Iterable[str]) -> set[str]:
        """Those of ``rels`` that exist."""
        return set(self.file_sizes(rels))

    def size(self, rel: str) -> int:
        raise NotImplementedError

    def delete(self, rel: str) -> None:
        """Remove a file; a missing one is not an error."""
        raise NotImplementedError

    def delete_tree(self, rel: str) -> None:
        """Remove a folder and what it holds; a missing one is not an error."""
        raise NotImplementedError

    def list_files(self, rel: str, pattern: str = "*") -> list[str]:
        """Relative paths of the files under folder ``rel`` (recursively) whose name
        matches ``pattern`` (``fnmatch``); a missing folder holds none."""
        raise NotImplementedError

    def list_names(self) -> list[str]:
        """Names of the entries at the root (files and folders)."""
        raise NotImplementedError

    def move(self, src: str, dst: str) -> None:
        """Move a file into place (its parent folder created as needed), replacing ``dst``."""
        raise NotImplementedError

    def make_dirs(self, rel: str) -> None:
        """Create folder ``rel`` and its parents (object stores have none to create)."""

    def staging_file(self, rel: str) -> str:
        """Prepare a new file's folder for writing; returns :meth:`path` of ``rel``."""
        self.make_dirs(rel.rsplit("/", 1)[0] if "/" in rel else "")
        return self.path(rel)

    def sync_file(self, rel: str) -> None:
        """Make a written file durable (fsync locally; nothing to do on an object store)."""

    def sync_dirs(self, rels: Iterable[str]) -> None:
        """Make moves into these folders durable (fsync locally)."""

    def remove_empty_dirs(self, tops: Iterable[str], keep: Any) -> None:
        """Remove empty partition folders under ``tops`` (``keep(name, parent_name)`` says
        which folders may go); object stores have no empty folders."""


class LocalLocation(Location):
    """A directory on local disk (or a mounted filesystem): os calls, as the store always did."""

    local = True
    filesystem = None

    def __init__(self, root: Path) -> None:
        self.root = root
        self.display = str(root)

    def _p(self, rel: str) -> Path:
        return self.root / rel if rel else self.root

    def path(self, rel: str = "") -> str:
        return str(self._p(rel))

    def uri(self, rel: str = "") -> str:
        return str(self._p(rel))

    def read_bytes(self, rel: str) -> bytes:
        return self._p(rel).read_bytes()

    def write_bytes(self, rel: str, data: bytes) -> None:
        path = self._p(rel)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        fsync_dir(path.parent)

    def exists(self, rel: str) -> bool:
        return self._p(rel).exists()

    def is_dir(self, rel: str = "") -> bool:
        return self._p(rel).is_dir()

    def is_file(self, rel: str) -> bool:
        return self._p(rel).is_file()

    def file_sizes(self, rels: Iterable[str]) -> dict[str, int]:
        return {r: self._p(r).stat().st_size for r in rels if self._p(r).exists()}

    def existing(self, rels: Iterable[str]) -> set[str]:
        return {r for r in rels if self._p(r).exists()}

    def size(self, rel: str) -> int:
        return self._p(rel).stat().st_size

    def delete(self, rel: str) -> None:
        self._p(rel).unlink(missing_ok=True)

    def delete_tree(self, rel: str) -> None:
        shutil.rmtree(self._p(rel), ignore_errors=True)

    def list_files(self, rel: str, pattern: str = "*") -> list[str]:
        base = self._p(rel)
        if not base.is_dir():
            return []
        return [p.relative_to(self.root).as_posix() for p in base.rglob(pattern) if p.is_file()]

    def list_names(self) -> list[str]:
        return [p.name for p in self.root.iterdir()] if self.root.is_dir() else []

    def move(self, src: str, dst: str) -> None:
        os.replace(self._p(src), self._p(dst))

    def make_dirs(self, rel: str) -> None:
        self._p(rel).mkdir(parents=True, exist_ok=True)

    def sync_file(self, rel: str) -> None:
        with open(self._p(rel), "rb") as fh:
            os.fsync(fh.fileno())

    def sync_dirs(self, rels: Iterable[str]) -> None:
        for d in rels:
            fsync_dir(self._p(d))

    def remove_empty_dirs(self, tops: Iterable[str], keep: Any) -> None:
        for top in tops:
            base = self._p(top)
            if not base.is_dir():
                continue
            for d in sorted((p for p in base.rglob("*") if p.is_dir()), key=lambda p: -len(p.parts)):
                if keep(d.name, d.parent.name):
                    try:
                        d.rmdir()  # only empty partition directories go
                    except OSError:
                        pass


class ArrowLocation(Location):
    """A prefix on a pyarrow filesystem (S3, GCS, ...): one PUT per file, no directories."""

    local = False

    def __init__(self, fs: pafs.FileSystem, root: str, uri: str) -> None:
        self.filesystem = fs
        self.root = root.rstrip("/")
        self._uri = uri.rstrip("/")
        self.display = self._uri

    def path(self, rel: str = "") -> str:
        return f"{self.root}/{rel}" if rel else self.root

    def uri(self, rel: str = "") -> str:
        return f"{self._uri}/{rel}" if rel else self._uri

    @property
    def fs(self) -> pafs.FileSystem:
        assert self.filesystem is not None
        return self.filesystem

    def _failed(self, exc: OSError) -> CacheLocationError:
        # Readers (reports, cache info) get the one line the writer's check gives.
        return CacheLocationError(f"Cannot read the cache {self.display}: {_short(exc)}")

    def read_bytes(self, rel: str) -> bytes:
        try:
            with self.fs.open_input_stream(self.path(rel)) as fh:
                return fh.read()
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def write_bytes(self, rel: str, data: bytes) -> None:
        # A single PUT: readers see the old object or the new one (no temp file needed).
        with self.fs.open_output_stream(self.path(rel)) as out:
            out.write(data)

    def _info(self, rel: str) -> pafs.FileInfo:
        try:
            return self.fs.get_file_info(self.path(rel))
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def exists(self, rel: str) -> bool:
        return self._info(rel).type != pafs.FileType.NotFound

    def is_dir(self, rel: str = "") -> bool:
        return self._info(rel).type == pafs.FileType.Directory

    def is_file(self, rel: str) -> bool:
        return self._info(rel).type == pafs.FileType.File

    def file_sizes(self, rels: Iterable[str]) -> dict[str, int]:
        # one listing per top folder rather than a request per file
        wanted = set(rels)
        cut = len(self.root) + 1
        out: dict[str, int] = {}
        for top in {r.split("/", 1)[0] for r in wanted}:
            sel = pafs.FileSelector(self.path(top), recursive=True, allow_not_found=True)
            for i in self.fs.get_file_info(sel):
                if i.type == pafs.FileType.File and i.path[cut:] in wanted:
                    out[i.path[cut:]] = int(i.size or 0)
        return out

    def size(self, rel: str) -> int:
        info = self._info(rel)
        if info.type == pafs.FileType.NotFound:
            raise FileNotFoundError(2, "No such file", self.uri(rel))
        return int(info.size or 0)

    def delete(self, rel: str) -> None:
        try:
            self.fs.delete_file(self.path(rel))
        except FileNotFoundError:
            pass

    def delete_tree(self, rel: str) -> None:
        for f in self.list_files(rel):
            self.delete(f)

    def list_files(self, rel: str, pattern: str = "*") -> list[str]:
        sel = pafs.FileSelector(self.path(rel), recursive=True, allow_not_found=True)
        cut = len(self.root) + 1
        return [i.path[cut:] for i in self.fs.get_file_info(sel)
                if i.type == pafs.FileType.File and fnmatch.fnmatchcase(i.base_name, pattern)]

    def list_names(self) -> list[str]:
        sel = pafs.FileSelector(self.root, recursive=False, allow_not_found=True)
        return [i.base_name for i in self.fs.get_file_info(sel)]

    def move(self, src: str, dst: str) -> None:
        # S3 has no rename: a server-side copy (the object appears whole) then a delete.
        self.fs.move(self.path(src), self.path(dst))

    def check_writable(self) -> None:
        """Fail in one line, before any Platform request, when the bucket cannot be used.

        Raises
        ------
        CacheLocationError
            No credentials, access denied, or the bucket does not exist.
        """
        bucket = self.root.split("/", 1)[0]
        if isinstance(self.fs, pafs.S3FileSystem) and not _aws_credentials_configured():
            raise CacheLocationError(
                f"No AWS credentials for the cache {self.display}: set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or run where an instance/container role applies.")
        try:
            info = self.fs.get_file_info(bucket)
        except OSError as exc:
            raise CacheLocationError(
                f"Cannot open the cache {self.display}: {_short(exc)}") from None
        if info.type == pafs.FileType.NotFound:
            raise CacheLocationError(
                f"The bucket {bucket!r} of the cache {self.display} does not exist (or this "
                "account cannot see it); create it first.")


_SECRET_PARAM = re.compile(r"((?:secret|token|key|password|credential)[A-Za-z_]*=)[^&\s'\"]+", re.IGNORECASE)


def _scrub(text: str) -> str:
    """``text`` without secrets: URI parameters that carry them, and the values of the
    AWS secret variables wherever they appear."""
    text = _SECRET_PARAM.sub(r"\1***", text)
    for var in ("AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        value = os.environ.get(var, "")
        if len(value) >= 4:
            text = text.replace(value, "***")
    return text


def _short(exc: BaseException) -> str:
    """An object-store error in one line, credentials and signatures left out."""
    text = _scrub(" ".join(str(exc).split()))
    low = text.lower()
    if "credential" in low or "access denied" in low or "access_denied" in low or "forbidden" in low:
        return "access denied (check the AWS credentials and the bucket's permissions)"
    if "signature" in low or "invalidaccesskeyid" in low or "invalid_access_key" in low:
        return "the AWS credentials were refused (check AWS_ACCESS_KEY_ID / AWS_PROFILE)"
    return text[:200]


def _aws_credentials_configured() -> bool:
    """Whether any AWS credential source could apply. The SDK would otherwise send unsigned
    requests (or wait on the instance metadata service) and fail later, mid-sync; this
    refuses only when nothing at all is configured and the metadata service is disabled."""
    env = os.environ
    if env.get("AWS_ACCESS_KEY_ID") or env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE"):
        return True
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") or env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") \
            or env.get("AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        return True
    home = Path.home()
    for name, default in (("AWS_SHARED_CREDENTIALS_FILE", home / ".aws" / "credentials"),
                          ("AWS_CONFIG_FILE", home / ".aws" / "config")):
        if Path(env.get(name) or default).expanduser().is_file():
            return True
    return env.get("AWS_EC2_METADATA_DISABLED", "").strip().lower() != "true"


def fsync_dir(path: Path) -> None:
    """Make a rename or a new entry in ``path`` durable."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def location(where: str | Path) -> Location:
    """The location of a cache given as a local path or a URI.

    Raises
    ------
    CacheLocationError
        A scheme pyarrow has no filesystem for (e.g. ``foo://x``), or a URI it cannot parse.
    """
    if isinstance(where, Path):
        return LocalLocation(where.expanduser())
    text = str(where).strip()
    m = _URI.match(text)
    if m is None:
        return LocalLocation(Path(where).expanduser())
    scheme = m.group(1).lower()
    if scheme in _LOCAL_SCHEMES:
        return LocalLocation(Path(text[len(m.group(0)):]))
    if scheme not in _REMOTE_SCHEMES:
        # Only S3 is tested; other pyarrow filesystems (gs://, hdfs://) can block for minutes
        # looking for credentials before saying anything, so they are refused up front.
        raise CacheLocationError(
            f"Unsupported cache location scheme {scheme!r} in {_redact(text)}: use a local directory "
            "or s3://bucket/prefix (S3-compatible stores through AWS_ENDPOINT_URL_S3).")
    text = m.group(0).lower() + text[len(m.group(0)):]  # S3://... is s3://...
    if any(seg in ("..", ".") for seg in unquote(_redact(text)[len(m.group(0)):]).split("/")):
        raise CacheLocationError(f"The cache location {_redact(text)} has '.' or '..' in its path: name the "
                                 "prefix itself.")
    try:
        fs, root = pafs.FileSystem.from_uri(text)
    except ValueError as exc:  # pyarrow's ArrowInvalid: it quotes the whole URI, keys included
        raise CacheLocationError(f"Cannot open the cache {_redact(text)}: not a valid {scheme}:// URL "
                                 f"({type(exc).__name__}).") from None
    except OSError as exc:  # e.g. the bucket's region could not be found
        raise CacheLocationError(f"Cannot open the cache {_redact(text)}: "
                                 f"{_short(_USERINFO.sub('//', str(exc)))}") from None
    if isinstance(fs, pafs.LocalFileSystem):
        return LocalLocation(Path(root))
    if not root.strip("/"):
        raise CacheLocationError(f"The cache location {_redact(text)} names no bucket.")
    return ArrowLocation(fs, root, _redact(text).split("?", 1)[0])


def _redact(uri: str) -> str:
    """A URI without user info or query (either may carry keys)."""
    m = _URI.match(uri)
    if not m:
        return uri
    rest = uri[len(m.group(0)):]
    host, sep, path = rest.partition("/")
    host = host.rsplit("@", 1)[-1]
    return f"{m.group(0)}{host}{sep}{path.split('?', 1)[0]}"
