"""Downloads against real servers on 127.0.0.1: the cache, progress, sha256, cut transfers, Google Drive, the Hub.

Hub tests run ``huggingface_hub`` in a child process, because it reads ``HF_ENDPOINT``, ``HF_HOME`` and
``HF_HUB_OFFLINE`` once, at import.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from http_helpers import COMMIT, FileServer
from videofocalnet.download import (
    DownloadError,
    cache_dir,
    cache_path,
    download_url,
    is_remote_spec,
    parse_hf_spec,
    resolve_weights,
)

SRC = Path(__file__).resolve().parents[1] / "src"
DATA = bytes(range(256)) * 4096  # 1 MiB: several read chunks, so a cut lands mid-transfer
SHA = hashlib.sha256(DATA).hexdigest()
WRONG = "0" * 64


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VIDEOFOCALNET_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _gets(server: FileServer) -> int:
    return sum(method == "GET" for method, _ in server.requests)


def _leftovers(home: Path) -> list[str]:
    folder = home / "checkpoints"
    return sorted(os.listdir(folder)) if folder.is_dir() else []


def test_cache_dir_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDEOFOCALNET_HOME", raising=False)
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert cache_dir() == tmp_path / "user" / ".cache" / "videofocalnet"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "videofocalnet"
    monkeypatch.setenv("VIDEOFOCALNET_HOME", str(tmp_path / "vf"))
    assert cache_dir() == tmp_path / "vf"


def test_download_shows_progress_then_serves_from_cache(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FileServer({"/w/weights.bin": DATA}) as server:
        path = download_url(server.url("/w/weights.bin"))
        err = capsys.readouterr().err
        assert path == home / "checkpoints" / "weights.bin"
        assert path.read_bytes() == DATA
        assert "100%" in err and "|" in err, f"no tqdm bar on stderr: {err!r}"
        assert _gets(server) == 1
        before = len(server.requests)
        assert download_url(server.url("/w/weights.bin")) == path
        assert len(server.requests) == before, "a cached file was fetched again"
        assert _leftovers(home) == ["weights.bin"]


def test_no_progress_is_quiet(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with FileServer({"/q.bin": DATA}) as server:
        download_url(server.url("/q.bin"), file_name="quiet.pth", progress=False)
    assert capsys.readouterr().err == ""
    assert (home / "checkpoints" / "quiet.pth").read_bytes() == DATA


def test_sha256_suffix_is_honoured(home: Path) -> None:
    with FileServer({"/good.bin": DATA, "/other.bin": DATA}) as server:
        path = download_url(server.url(f"/good.bin#sha256={SHA.upper()}"))
        assert path.name == "good.bin" and path.read_bytes() == DATA
        with pytest.raises(DownloadError, match="sha256 mismatch") as info:
            download_url(server.url(f"/other.bin#sha256={WRONG}"))
        assert WRONG in str(info.value) and SHA in str(info.value)
        assert not (home / "checkpoints" / "other.bin").exists()
        with pytest.raises(ValueError, match="64 hex digits"):
            download_url(server.url("/good.bin#sha256=abc"))
        with pytest.raises(ValueError, match="disagrees"):
            download_url(server.url(f"/good.bin#sha256={SHA}"), sha256=WRONG)


def test_wrong_sha256_is_refused_and_removed(home: Path) -> None:
    with FileServer({"/w.bin": DATA}) as server:
        url = server.url("/w.bin")
        with pytest.raises(DownloadError) as info:
            download_url(url, sha256=WRONG)
        message = str(info.value)
        assert "\n" not in message and url in message and WRONG in message and SHA in message
        assert _leftovers(home) == [], "a refused download left files behind"
        assert _gets(server) == 1
        # a correct digest afterwards downloads again (nothing was kept) and is then served from the cache
        assert download_url(url, sha256=SHA).read_bytes() == DATA
        assert _gets(server) == 2


def test_cached_file_with_wrong_sha256_is_refused_but_kept(home: Path) -> None:
    placed = home / "checkpoints" / "mine.pth"
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"not the published file")
    with FileServer({"/mine.pth": DATA}) as server:
        with pytest.raises(DownloadError, match="delete it to refetch"):
            download_url(server.url("/mine.pth"), sha256=SHA)
        assert server.requests == []
    assert placed.read_bytes() == b"not the published file"


def test_cut_transfer_leaves_nothing_a_later_call_uses(home: Path) -> None:
    with FileServer({"/cut/weights.bin": DATA}, cut=["/cut/weights.bin"]) as bad:
        with pytest.raises(DownloadError, match="cut short") as info:
            download_url(bad.url("/cut/weights.bin"))
        assert "\n" not in str(info.value)
    assert _leftovers(home) == [], "a cut transfer left a file in the cache"
    with FileServer({"/weights.bin": DATA}) as good:  # same cache name; must fetch, not reuse
        path = download_url(good.url("/weights.bin"), sha256=SHA)
        assert _gets(good) == 1
    assert path == home / "checkpoints" / "weights.bin" and path.read_bytes() == DATA


def test_redirect_to_a_storage_host_is_followed_and_length_checked(home: Path) -> None:
    storage = FileServer({"/blob": DATA}, cut=["/blob"])
    release = FileServer({}, redirects={"/releases/w.pth": storage.url("/blob")})  # as GitHub release links do
    with storage, release:
        with pytest.raises(DownloadError, match="cut short"):
            download_url(release.url("/releases/w.pth"))
        assert _leftovers(home) == []
        storage.cut.clear()  # the storage host recovers
        path = download_url(release.url("/releases/w.pth"))
    assert path == home / "checkpoints" / "w.pth" and path.read_bytes() == DATA


def test_http_errors_are_one_line(home: Path) -> None:
    with FileServer({}) as server, pytest.raises(DownloadError, match="404") as info:
        download_url(server.url("/missing.pth"))
    assert "\n" not in str(info.value)
    assert _leftovers(home) == []


def test_cache_names(home: Path) -> None:
    assert cache_path("https://example.org/a/b/w%20x.pth?x=1#sha256=" + SHA) == home / "checkpoints" / "w x.pth"
    drive = "https://drive.google.com/file/d/1wsUjJbPVQd7pf-OocD9mVU8pak0gdBTP/view?usp=sharing"
    assert cache_path(drive).name == "gdrive-1wsUjJbPVQd7pf-OocD9mVU8pak0gdBTP"
    for bad in ("../escape.pth", "a/b.pth", "..", "a\\b", ""):
        with pytest.raises(ValueError, match="file_name"):
            cache_path("https://example.org/x.pth", bad)
    with pytest.raises(ValueError, match="cannot name"):
        cache_path("https://example.org/")


def test_google_drive_without_gdown_says_what_to_do_then_works_offline(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "gdown", None)  # as if gdown were not installed: its import fails
    url = "https://drive.google.com/file/d/1wsUjJbPVQd7pf-OocD9mVU8pak0gdBTP/view?usp=sharing"
    target = home / "checkpoints" / "video-focalnet_tiny_k400.pth"
    with pytest.raises(DownloadError) as info:
        resolve_weights("video_focalnet_tiny.k400")
    message = str(info.value)
    assert "pip install gdown" in message and url in message and str(target) in message and "\n" not in message
    assert _leftovers(home) == []
    # the file put where the message says is used with no network (drive.google.com is unreachable here)
    target.write_bytes(DATA)
    assert resolve_weights("video_focalnet_tiny.k400") == target
    assert download_url(url, file_name=target.name) == target


def test_resolve_specs(home: Path, tmp_path: Path) -> None:
    local = tmp_path / "local.pth"
    local.write_bytes(DATA)
    assert resolve_weights(str(local)) == local and not is_remote_spec(str(local))
    with FileServer({"/r.pth": DATA}) as server:
        assert is_remote_spec(server.url("/r.pth"))
        assert resolve_weights(server.url("/r.pth"), progress=False).read_bytes() == DATA
    assert is_remote_spec("video_focalnet_base.k400") and is_remote_spec("hf-hub:timm/x")
    assert not is_remote_spec("video_focalnet_base.k40")
    with pytest.raises(ValueError) as info:
        resolve_weights("video_focalnet_base.k40")
    message = str(info.value)
    assert message.startswith("not a file, URL, hf-hub: id or zoo name: video_focalnet_base.k40")
    assert "video_focalnet_base.k400" in message and "videofocalnet weights list" in message
    with pytest.raises(ValueError, match="not a file"):
        resolve_weights(str(tmp_path / "missing.pth"))
    with pytest.raises(ValueError, match="hf-hub:ORG/NAME"):
        resolve_weights("hf-hub:justname")


def test_parse_hf_spec() -> None:
    assert parse_hf_spec("hf-hub:timm/focalnet_tiny_srf.ms_in1k") == ("timm/focalnet_tiny_srf.ms_in1k", None, None)
    assert parse_hf_spec("hf-hub:org/name@v1/sub/model.bin") == ("org/name", "v1", "sub/model.bin")
    for bad in ("hf-hub:", "hf-hub:/x", "hf-hub:org/", "hf-hub:org/@rev", "timm/x"):
        with pytest.raises(ValueError, match="bad hf-hub"):
            parse_hf_spec(bad)


# ------------------------------------------------------------------------------------------ Hugging Face Hub ids
def _hub_child(code: str, hf_home: Path, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE"))}
    environ.update(PYTHONPATH=str(SRC), HF_HOME=str(hf_home), HF_HUB_DISABLE_TELEMETRY="1", **env)
    return subprocess.run([sys.executable, "-c", code], env=environ, capture_output=True, text=True, timeout=120)


def _resolve_code(spec: str) -> str:
    return (
        "import sys\nfrom videofocalnet.download import DownloadError, resolve_weights\n"
        f"try:\n    print(resolve_weights({spec!r}))\n"
        "except DownloadError as err:\n    print('DownloadError:', err, file=sys.stderr)\n    sys.exit(3)\n"
    )


def _resolves(server: FileServer) -> list[str]:
    return [path for method, path in server.requests if "/resolve/" in path]


def test_hub_id_through_an_endpoint_on_localhost(tmp_path: Path) -> None:
    repo = "timm/focalnet_tiny_srf.ms_in1k"
    files = {f"{repo}/pytorch_model.bin": DATA, "org/model/model.safetensors": DATA[::-1]}
    with FileServer(files, hub=True) as hub:
        # a zoo name whose url is a Hub id: no model.safetensors there, so pytorch_model.bin (timm's older files)
        first = _hub_child(_resolve_code("focalnet_tiny_srf.in1k"), tmp_path / "hf", HF_ENDPOINT=hub.base)
        assert first.returncode == 0, first.stderr
        path = Path(first.stdout.strip())
        assert path.read_bytes() == DATA and path.is_relative_to(tmp_path / "hf")
        assert COMMIT in path.parts and path.name == "pytorch_model.bin"
        assert any(p.endswith("/model.safetensors") for p in _resolves(hub))
        # the zoo entry is now cached: no request at all
        before = len(_resolves(hub))
        again = _hub_child(_resolve_code("focalnet_tiny_srf.in1k"), tmp_path / "hf", HF_ENDPOINT=hub.base)
        assert again.returncode == 0 and Path(again.stdout.strip()) == path
        assert len(_resolves(hub)) == before
        # an explicit hf-hub: id with revision and file
        spec = f"hf-hub:org/model@{COMMIT}/model.safetensors"
        explicit = _hub_child(_resolve_code(spec), tmp_path / "hf", HF_ENDPOINT=hub.base)
        assert explicit.returncode == 0, explicit.stderr
        assert Path(explicit.stdout.strip()).read_bytes() == DATA[::-1]
        missing = _hub_child(_resolve_code("hf-hub:org/model/nothing.bin"), tmp_path / "hf", HF_ENDPOINT=hub.base)
        assert missing.returncode == 3 and "nothing.bin is not in the repository" in missing.stderr
    # offline (and the server gone): the cached files still resolve
    offline = _hub_child(_resolve_code("hf-hub:timm/focalnet_tiny_srf.ms_in1k"), tmp_path / "hf", HF_HUB_OFFLINE="1")
    assert offline.returncode == 0, offline.stderr
    assert Path(offline.stdout.strip()) == path


def test_hub_id_from_a_prepared_cache_offline(tmp_path: Path) -> None:
    """The documented offline route: the HF cache layout filled beforehand (copied from another machine)."""
    storage = tmp_path / "hf" / "hub" / "models--timm--focalnet_base_srf.ms_in1k"
    (storage / "blobs").mkdir(parents=True)
    blob = storage / "blobs" / SHA
    blob.write_bytes(DATA)
    snapshot = storage / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    (snapshot / "model.safetensors").symlink_to(os.path.relpath(blob, snapshot))
    (storage / "refs").mkdir()
    (storage / "refs" / "main").write_text(COMMIT)
    for spec in ("focalnet_base_srf.in1k", "hf-hub:timm/focalnet_base_srf.ms_in1k"):
        done = _hub_child(_resolve_code(spec), tmp_path / "hf", HF_HUB_OFFLINE="1")
        assert done.returncode == 0, done.stderr
        assert Path(done.stdout.strip()) == snapshot / "model.safetensors"
    absent = _hub_child(_resolve_code("hf-hub:timm/focalnet_small_srf.ms_in1k"), tmp_path / "hf", HF_HUB_OFFLINE="1")
    assert absent.returncode == 3
    (line,) = absent.stderr.strip().splitlines()
    assert "not in the local Hub cache" in line and "HF_HOME" in line
