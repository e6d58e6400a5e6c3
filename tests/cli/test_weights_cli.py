"""``videofocalnet weights list|download`` as real processes, downloading from a real server on 127.0.0.1."""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from http_helpers import FileServer
from videofocalnet.zoo import list_weights

SRC = Path(__file__).resolve().parents[2] / "src"
DATA = os.urandom(300_000)


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(SRC), VIDEOFOCALNET_HOME=str(home), HF_HUB_OFFLINE="1")
    return subprocess.run(
        [sys.executable, "-m", "videofocalnet", "weights", *args], capture_output=True, text=True, env=env, timeout=120
    )


def test_list_shows_every_entry_and_what_is_cached(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / "checkpoints").mkdir(parents=True)
    (home / "checkpoints" / "video-focalnet_base_k600.pth").write_bytes(b"placed by hand")
    done = _cli(home, "list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split() == ["name", "top-1", "views", "label", "set", "cached", "url"]
    rows = {line.split()[0]: line.split() for line in lines[2:]}
    assert list(rows) == [w.name for w in list_weights()]
    for w in list_weights():
        row = rows[w.name]
        assert row[1] == f"{w.top1:.1f}" and row[2] == w.views and row[3] == (w.label_set or "-") and row[5] == w.url
        assert row[4] == ("yes" if w.name == "video_focalnet_base.k600" else "no")


def test_list_pattern_and_no_match(tmp_path: Path) -> None:
    done = _cli(tmp_path, "list", "*ssv2")
    assert done.returncode == 0 and [line.split()[0] for line in done.stdout.splitlines()[2:]] == [
        "video_focalnet_base.ssv2"
    ]
    none = _cli(tmp_path, "list", "nothing")
    assert none.returncode == 2 and none.stdout == ""
    assert none.stderr.count("\n") == 1 and none.stderr.startswith("error: no weights match 'nothing'")


def test_download_url_prints_cached_path_with_progress(tmp_path: Path) -> None:
    home = tmp_path / "home"
    digest = hashlib.sha256(DATA).hexdigest()
    with FileServer({"/rel/w.pth": DATA}) as server:
        done = _cli(home, "download", server.url(f"/rel/w.pth#sha256={digest}"))
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == str(home / "checkpoints" / "w.pth")
        assert (home / "checkpoints" / "w.pth").read_bytes() == DATA
        assert "100%" in done.stderr
        gets = sum(m == "GET" for m, _ in server.requests)
        again = _cli(home, "download", "--no-progress", server.url("/rel/w.pth"))
        assert again.returncode == 0 and again.stdout.strip() == done.stdout.strip() and again.stderr == ""
        assert sum(m == "GET" for m, _ in server.requests) == gets
        wrong = _cli(home, "download", "--no-progress", server.url("/rel/other.pth"))
        assert wrong.returncode == 1 and wrong.stderr.startswith("error: could not download") and "404" in wrong.stderr
        bad_sha = _cli(home, "download", server.url(f"/rel/w.pth#sha256={'1' * 64}"))
        assert bad_sha.returncode == 1 and "sha256" in bad_sha.stderr and bad_sha.stderr.count("\n") == 1


def test_download_zoo_name_from_the_cache_or_says_how(tmp_path: Path) -> None:
    home = tmp_path / "home"
    name = "video_focalnet_small.k400"
    failed = _cli(home, "download", name)
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1 and failed.stderr.startswith("error: ")
    target = home / "checkpoints" / "video-focalnet_small_k400.pth"
    if importlib.util.find_spec("gdown") is None:
        assert "pip install gdown" in failed.stderr and str(target) in failed.stderr
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(DATA)  # what the message says to do, offline
    done = _cli(home, "download", name)
    assert done.returncode == 0 and done.stdout.strip() == str(target)


@pytest.mark.parametrize("spec", ["video_focalnet_smal.k400", "hf-hub:nosuchorg", "./missing.pth"])
def test_download_user_mistakes_exit_2(tmp_path: Path, spec: str) -> None:
    done = _cli(tmp_path, "download", spec)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: ")
    if spec == "video_focalnet_smal.k400":
        assert "did you mean video_focalnet_small.k400" in done.stderr


def test_no_action_is_a_user_mistake(tmp_path: Path) -> None:
    done = _cli(tmp_path)
    assert done.returncode == 2 and done.stderr.startswith("error: choose an action")
