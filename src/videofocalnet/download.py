"""Getting weights onto disk: one cache folder, URL / Google Drive / Hugging Face Hub downloads, one resolver.

Anything that takes weights accepts a *spec*: a local path, a ``http(s)://`` URL (optionally ending in
``#sha256=<hex>``), a ``hf-hub:org/name[@revision][/file]`` id, or a zoo name (``video_focalnet_base.k400``, see
``videofocalnet.zoo``). :func:`resolve_weights` turns any of them into a local file, downloading at most once.

Guarantees, because a half-downloaded checkpoint that loads as garbage (or not at all, days later) costs more than
the download: a file reaches its final cache name only complete (length checked against the server's
Content-Length) and, where a sha256 is known, verified; it gets there by an atomic rename (``videofocalnet.atomic``),
so an interrupted transfer leaves nothing a later call would pick up. A cached file is used without any request, so
a file put in the cache by hand works offline.

The transfers are done by maintained libraries: ``torch.hub.download_url_to_file`` (tqdm progress bar) for URLs,
``gdown`` (optional extra ``gdrive``) for Google Drive's confirm page, ``huggingface_hub`` for Hub ids (its own cache,
``HF_HOME`` / ``HF_HUB_OFFLINE`` / ``HF_ENDPOINT``).
"""

from __future__ import annotations

import difflib
import hashlib
import http.client
import os
import re
from pathlib import Path, PurePosixPath
from urllib.error import URLError
from urllib.parse import parse_qs, unquote, urldefrag, urlparse
from urllib.request import Request, urlopen

from videofocalnet.atomic import atomic_write
from videofocalnet.zoo import PretrainedWeights, UnknownWeightsError, get_weights, list_weights

__all__ = [
    "ENV_HOME",
    "DownloadError",
    "cache_dir",
    "cache_path",
    "cached_weights",
    "checkpoints_dir",
    "download_url",
    "fetch_weights",
    "hf_hub_file",
    "is_remote_spec",
    "parse_hf_spec",
    "resolve_weights",
]

ENV_HOME = "VIDEOFOCALNET_HOME"
HF_PREFIX = "hf-hub:"
HF_DEFAULT_FILES = ("model.safetensors", "pytorch_model.bin")  # what timm's Hub repos hold, preferred first
_GDRIVE_HOSTS = ("drive.google.com", "docs.google.com", "drive.usercontent.google.com")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_USER_AGENT = "torch.hub"  # what torch.hub's download sends; the length probe looks like the same client


class DownloadError(RuntimeError):
    """Weights could not be fetched or failed verification; the message is one line saying what to do."""


def _one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


# ------------------------------------------------------------------------------------------------------ the cache
def cache_dir() -> Path:
    """``$VIDEOFOCALNET_HOME``, else ``$XDG_CACHE_HOME/videofocalnet``, else ``~/.cache/videofocalnet``."""
    home = os.environ.get(ENV_HOME)
    if home:
        return Path(home).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg).expanduser() if xdg else Path.home() / ".cache") / "videofocalnet"


def checkpoints_dir() -> Path:
    return cache_dir() / "checkpoints"


def _google_drive_id(url: str) -> str | None:
    parts = urlparse(url)
    if parts.hostname not in _GDRIVE_HOSTS:
        return None
    match = re.search(r"/d/([\w-]+)", parts.path)
    if match:
        return match.group(1)
    ids = parse_qs(parts.query).get("id")
    return ids[0] if ids else None


def _split_sha256(url: str, sha256: str | None) -> tuple[str, str | None]:
    """Strip a ``#sha256=<hex>`` suffix (fragments never reach the server) and reconcile it with ``sha256``."""
    base, fragment = urldefrag(url)
    expected = sha256.lower() if sha256 else None
    key, _, value = fragment.partition("=")
    if key == "sha256":
        value = value.lower()
        if not _SHA256.fullmatch(value):
            raise ValueError(f"bad #sha256= suffix on {url}: expected 64 hex digits")
        if expected is not None and expected != value:
            raise ValueError(f"{url}: the #sha256= suffix disagrees with sha256={sha256}")
        expected = value
    if expected is not None and not _SHA256.fullmatch(expected):
        raise ValueError(f"bad sha256 {sha256!r} for {url}: expected 64 hex digits")
    return (base if fragment else url), expected


def cache_path(url: str, file_name: str | None = None) -> Path:
    """Where :func:`download_url` keeps ``url``'s file: ``checkpoints/<file_name or the URL's basename>``."""
    base, _ = _split_sha256(url, None)
    if file_name is None:
        drive_id = _google_drive_id(base)
        file_name = f"gdrive-{drive_id}" if drive_id else unquote(PurePosixPath(urlparse(base).path).name)
    if not file_name or file_name in (".", "..") or PurePosixPath(file_name).name != file_name or "\\" in file_name:
        raise ValueError(f"cannot name the download of {url} ({file_name!r}): pass a plain file_name")
    return checkpoints_dir() / file_name


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -------------------------------------------------------------------------------------------------- URL downloads
def _content_length(url: str) -> int | None:
    """The size the server announces. torch.hub's urllib read loop takes a body cut short by a closed connection
    as complete, so the length is learned up front and checked after; None where the server will not say."""
    request = Request(url, method="HEAD", headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"})
    try:
        with urlopen(request, timeout=60) as response:
            length = response.headers.get("Content-Length")
    except (URLError, OSError, ValueError):
        return None  # the GET reports the real problem
    return int(length) if length and length.isdigit() else None


def _fetch_http(url: str, tmp: str, progress: bool) -> None:
    from torch.hub import download_url_to_file

    expected = _content_length(url)
    try:
        download_url_to_file(url, tmp, progress=progress)
    except (URLError, OSError, ValueError, http.client.HTTPException) as err:
        raise DownloadError(f"could not download {url}: {_one_line(err)}") from None
    got = os.path.getsize(tmp)
    if expected is not None and got != expected:
        raise DownloadError(f"download of {url} was cut short ({got} of {expected} bytes); nothing was kept, run again")


def _fetch_google_drive(drive_id: str, url: str, tmp: str, dest: Path, progress: bool) -> None:
    """Drive answers large files with a "can't scan for viruses" confirm page; gdown knows how to get past it."""
    by_hand = f"download {url} yourself and put it at {dest}"
    try:
        import gdown  # type: ignore[import-not-found, import-untyped, unused-ignore]
    except ImportError:
        raise DownloadError(f"Google Drive links need gdown: pip install gdown, or {by_hand}") from None
    os.unlink(tmp)  # gdown writes the output path itself
    try:
        out = gdown.download(id=drive_id, output=tmp, quiet=not progress)
    except Exception as err:  # gdown raises its own and requests' errors, which vary by version
        raise DownloadError(f"gdown could not download {url}: {_one_line(err)}; {by_hand}") from None
    if out is None or not os.path.isfile(tmp):
        raise DownloadError(f"gdown could not download {url}; {by_hand}")


def _check_sha256(path: Path | str, url: str, expected: str | None) -> None:
    if expected is None:
        return
    got = _sha256_of(Path(path))
    if got != expected:
        raise DownloadError(f"sha256 mismatch for {url}: expected {expected}, got {got}; the download was removed")


def download_url(url: str, *, file_name: str | None = None, sha256: str | None = None, progress: bool = True) -> Path:
    """Fetch ``url`` into the cache once and return its path; a cached file is returned without any request.

    ``sha256`` (or a ``#sha256=<hex>`` URL suffix) is checked on every call; a download that fails it is removed.
    """
    url, expected = _split_sha256(url, sha256)
    dest = cache_path(url, file_name)
    if dest.is_file():
        got = _sha256_of(dest) if expected else None
        if got != expected:  # a file put there by hand is the user's: refuse it, leave it
            raise DownloadError(f"cached {dest} has sha256 {got}, expected {expected} for {url}; delete it to refetch")
        return dest
    drive_id = _google_drive_id(url)

    def fetch(tmp: str) -> None:
        if drive_id is not None:
            _fetch_google_drive(drive_id, url, tmp, dest, progress)
        else:
            _fetch_http(url, tmp, progress)
        _check_sha256(tmp, url, expected)

    return atomic_write(dest, fetch)  # temp file in the same folder, renamed only once complete and verified


# ----------------------------------------------------------------------------------------------- Hugging Face Hub
def parse_hf_spec(spec: str) -> tuple[str, str | None, str | None]:
    """``hf-hub:org/name[@revision][/path/in/repo]`` -> ``(repo_id, revision, filename)``."""
    parts = spec[len(HF_PREFIX) :].split("/") if spec.startswith(HF_PREFIX) else []
    if len(parts) < 2 or not parts[0] or not parts[1].partition("@")[0]:
        raise ValueError(f"bad hf-hub: id {spec!r}; expected hf-hub:ORG/NAME[@REVISION][/FILE]")
    name, _, revision = parts[1].partition("@")
    return f"{parts[0]}/{name}", revision or None, "/".join(parts[2:]) or None


def hf_hub_file(
    repo_id: str, filename: str | None = None, *, revision: str | None = None, progress: bool = True
) -> Path:
    """One file of a Hub repo through ``huggingface_hub`` (its cache, offline mode and endpoint settings); without
    ``filename``, ``model.safetensors`` then ``pytorch_model.bin``, the files timm's repos hold."""
    from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars

    if progress or are_progress_bars_disabled():
        return _hf_hub_file(repo_id, filename, revision)
    disable_progress_bars()  # the Hub client's switch is process-wide: set it for this call only
    try:
        return _hf_hub_file(repo_id, filename, revision)
    finally:
        enable_progress_bars()


def _hf_hub_file(repo_id: str, filename: str | None, revision: str | None) -> Path:
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

    where = f"hf-hub:{repo_id}" + (f"@{revision}" if revision else "")
    failures = []
    for name in (filename,) if filename else HF_DEFAULT_FILES:
        try:
            return Path(hf_hub_download(repo_id, name, revision=revision))
        except LocalEntryNotFoundError:  # offline (or the Hub unreachable) and not in the local cache
            failures.append(f"{name} is not in the local Hub cache and the Hub could not be reached")
        except EntryNotFoundError:
            failures.append(f"{name} is not in the repository")
        except Exception as err:  # the Hub client's errors differ across its requests- and httpx-based versions
            raise DownloadError(f"could not fetch {name} from {where}: {_one_line(err)}") from None
    raise DownloadError(f"{where}: {'; '.join(failures)} (offline: fill the cache under HF_HOME or pass a local path)")


def _hf_cached(repo_id: str, filename: str | None, revision: str | None) -> Path | None:
    from huggingface_hub import try_to_load_from_cache

    for name in (filename,) if filename else HF_DEFAULT_FILES:
        found = try_to_load_from_cache(repo_id, name, revision=revision)
        if isinstance(found, str):
            return Path(found)
    return None


# -------------------------------------------------------------------------------------------- zoo names and specs
def _sources(entry: PretrainedWeights) -> list[tuple[str, str | None]]:
    """(url, sha256) in the order to try; the table's sha256 describes the primary url's file only."""
    return [(entry.url, entry.sha256), *((alt, None) for alt in entry.alt_urls)]


def cached_weights(entry: PretrainedWeights) -> Path | None:
    """The local copy of ``entry`` if any source already has one (no request is made)."""
    for url, _ in _sources(entry):
        if url.startswith(HF_PREFIX):
            found = _hf_cached(*parse_hf_spec(url))
        else:
            path = cache_path(url, entry.file_name)
            found = path if path.is_file() else None
        if found is not None:
            return found
    return None


def fetch_weights(entry: PretrainedWeights, *, progress: bool = True) -> Path:
    """A zoo entry's file: a cached copy of any source first, else its url, then each of its alt_urls."""
    cached = cached_weights(entry)
    if cached is not None and not entry.sha256:
        return cached
    problems = []
    for url, sha256 in _sources(entry):
        try:
            if url.startswith(HF_PREFIX):
                repo_id, revision, filename = parse_hf_spec(url)
                return hf_hub_file(repo_id, filename, revision=revision, progress=progress)
            return download_url(url, file_name=entry.file_name, sha256=sha256, progress=progress)
        except DownloadError as err:
            problems.append(str(err))
    raise DownloadError(f"{entry.name}: " + " | also: ".join(problems))


def is_remote_spec(spec: str) -> bool:
    """Whether :func:`resolve_weights` would fetch ``spec`` (or take it from the cache) rather than read a path."""
    if Path(spec).expanduser().exists():
        return False
    if spec.startswith((HF_PREFIX, "http://", "https://")):
        return True
    try:
        get_weights(spec)
    except UnknownWeightsError:
        return False
    return True


def resolve_weights(spec: str, *, progress: bool = True) -> Path:
    """Any weights spec -> a local file: a path as is; ``hf-hub:`` ids, URLs and zoo names fetched once, cached."""
    path = Path(spec).expanduser()
    if path.exists():
        return path
    if spec.startswith(HF_PREFIX):
        repo_id, revision, filename = parse_hf_spec(spec)
        return hf_hub_file(repo_id, filename, revision=revision, progress=progress)
    if spec.startswith(("http://", "https://")):
        return download_url(spec, progress=progress)
    try:
        entry = get_weights(spec)
    except UnknownWeightsError:
        close = difflib.get_close_matches(spec, [w.name for w in list_weights()], n=3, cutoff=0.6)
        hint = f" (did you mean {' or '.join(close)}?)" if close else ""
        raise ValueError(
            f"not a file, URL, hf-hub: id or zoo name: {spec}{hint}; see `videofocalnet weights list`"
        ) from None
    return fetch_weights(entry, progress=progress)
