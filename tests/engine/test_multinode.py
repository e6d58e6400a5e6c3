"""Two "hosts" as network namespaces joined by a veth pair; torchrun on each with c10d rendezvous across them.

What a two-node cluster does, on one machine: the run ends with the weights of a one-process run with the same
global batch, and a worker killed on one node mid-epoch makes torchrun (``--max-restarts 1``) restart both nodes'
workers, which resume from ``last.pt`` to the uninterrupted run's exact weights. Needs root (``ip netns``); skips
with the reason where that is not permitted.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO_ROOT, tiny_config_dict  # tests/engine/conftest.py (pytest puts its folder on sys.path)

WORKER = str(Path(__file__).with_name("torchrun_worker.py"))
PORT = 29517


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True, timeout=30)


@pytest.fixture(scope="module")
def two_hosts():
    """[(namespace, interface, address)] for two namespaces joined by a veth pair (10.231.<n>.1 and .2)."""
    if shutil.which("ip") is None:
        pytest.skip("the `ip` command (iproute2) is not installed")
    tag = uuid.uuid4().hex[:6]
    hosts = [
        (f"vfn{tag}{side}", f"vfn{tag}{side}0", f"10.231.{int(tag[:2], 16)}.{n}") for n, side in ((1, "a"), (2, "b"))
    ]
    try:
        for ns, _iface, _addr in hosts:
            _ip("netns", "add", ns)
        _ip("link", "add", hosts[0][1], "type", "veth", "peer", "name", hosts[1][1])
        for ns, iface, addr in hosts:
            _ip("link", "set", iface, "netns", ns)
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", iface)
            _ip("-n", ns, "link", "set", iface, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
    except subprocess.CalledProcessError as exc:
        for ns, _iface, _addr in hosts:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        pytest.skip(f"cannot create network namespaces here ({exc.stderr.strip() or exc}): needs root")
    yield hosts
    for ns, _iface, _addr in hosts:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@pytest.fixture(scope="module")
def configs(tiny_videos, tmp_path_factory):
    """(one process, batch 4) and (two nodes, batch 2 each): the same global batch; checkpoints every step."""
    root = tmp_path_factory.mktemp("multinode")
    paths = {}
    for name, batch in (("one", 4), ("two", 2)):
        cfg = tiny_config_dict(
            tiny_videos, DATA={"BATCH_SIZE": batch}, TRAIN={"EPOCHS": 2, "CHECKPOINT_EVERY_STEPS": 1}
        )
        paths[name] = root / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump(cfg, sort_keys=False))
    return root, paths


def _two_nodes(hosts, cfg: Path, output: Path, *extra: str, max_restarts: int = 0) -> list[tuple[int, str]]:
    """torchrun on both hosts, rendezvous at the first one -> [(exit code, output)] per node."""
    endpoint = f"{hosts[0][2]}:{PORT}"
    procs = []
    for node, (ns, iface, addr) in enumerate(hosts):
        env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", GLOO_SOCKET_IFNAME=iface)
        command = ["ip", "netns", "exec", ns, sys.executable, "-m", "torch.distributed.run"]
        command += ["--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d"]
        command += ["--rdzv-endpoint", endpoint, "--rdzv-id", output.name, "--max-restarts", str(max_restarts)]
        # the store's host and each node's address are told, not guessed: the machine's hostname resolves to no
        # namespace's address (and rank 0's node address becomes the workers' MASTER_ADDR)
        command += ["--rdzv-conf", f"is_host={int(node == 0)},join_timeout=60", "--local-addr", addr]
        command += ["--monitor-interval", "0.2", WORKER, str(cfg), str(output), *extra]
        procs.append(
            subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                start_new_session=True,
            )
        )
    results = []
    try:
        for proc in procs:
            try:
                out, _ = proc.communicate(timeout=90)
            except subprocess.TimeoutExpired as exc:  # report what it printed; the finally ends it
                out = (exc.output or b"").decode(errors="replace") if isinstance(exc.output, bytes) else exc.output
                out = f"{out or ''}\n[timed out after 90 s]"
            results.append((proc.returncode, out))
    finally:  # a hung run must not outlive the test (deleting a namespace does not end its processes)
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        # torchrun starts its workers in sessions of their own: end any that the kill above did not reach
        subprocess.run(["pkill", "-9", "-f", f"{WORKER} {cfg} {output}"], capture_output=True)
    return results


def _state(run_dir: Path) -> dict:
    return torch.load(run_dir / "last.pt", weights_only=True)


@pytest.fixture(scope="module")
def reference_runs(two_hosts, configs):
    """The one-process run and the uninterrupted two-node run."""
    root, paths = configs
    env = dict(os.environ, OMP_NUM_THREADS="1")
    one = subprocess.run(
        [sys.executable, WORKER, str(paths["one"]), str(root / "one")],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert one.returncode == 0, one.stderr[-3000:]
    nodes = _two_nodes(two_hosts, paths["two"], root / "two")
    assert [code for code, _ in nodes] == [0, 0], "\n".join(out[-3000:] for _, out in nodes)
    return _state(root / "one"), _state(root / "two")


@pytest.mark.slow
def test_two_nodes_over_c10d_rendezvous_end_with_the_one_process_weights(reference_runs):
    one, two = reference_runs
    assert one["progress"]["global_step"] == two["progress"]["global_step"] == 6
    assert two["world_size"] == 2
    for name, w in one["model"].items():
        assert torch.allclose(w, two["model"][name], atol=1e-5, rtol=0), name
    moved = max((one["model"][k] - w).abs().max().item() for k, w in _initial_weights(one).items())
    assert moved > 1e-3  # the comparison is not vacuous


def _initial_weights(state: dict) -> dict:
    from videofocalnet.engine.build import build_model
    from videofocalnet.engine.config import config_from_dict
    from videofocalnet.engine.distributed import seed_everything

    seed_everything(0)
    return build_model(config_from_dict(state["config"])).state_dict()


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("VIDEOFOCALNET_ELASTIC_RESTART_TEST") != "1",
    reason="set VIDEOFOCALNET_ELASTIC_RESTART_TEST=1: torch elastic's restart round hangs in about one run in three "
    "on this machine (the restarted rank 1 gets 'connectFullMesh ... Connection refused'), too flaky for CI",
)
def test_a_worker_killed_on_one_node_restarts_both_and_resumes_to_the_same_weights(two_hosts, configs, reference_runs):
    root, paths = configs
    # 3 updates an epoch: step 4 is the middle of the second epoch. About one run in three, the restarted rank 1
    # cannot reach rank 0's new gloo listener ("connectFullMesh ... Connection refused") and the restarted round
    # hangs: a race inside torch elastic's restart, not in this engine. Such an attempt is reported and run once
    # more from scratch; any other failure, or two in a row, fails the test.
    for attempt in range(2):
        run = root / f"killed{attempt}"
        nodes = _two_nodes(two_hosts, paths["two"], run, "--kill-at", "1:4", max_restarts=1)
        outputs = "\n".join(out for _, out in nodes)
        if [code for code, _ in nodes] == [0, 0] or "connectFullMesh" not in outputs:
            break
        print(f"attempt {attempt}: torch elastic's restart race (connectFullMesh refused); retrying", file=sys.stderr)
    assert [code for code, _ in nodes] == [0, 0], outputs[-4000:]
    assert "resumed from" in outputs and "at epoch 1, step 4" in outputs, outputs[-4000:]
    _one, two = reference_runs
    killed = _state(run)
    assert killed["progress"] == two["progress"]
    for name, w in two["model"].items():
        assert torch.equal(w, killed["model"][name]), name
