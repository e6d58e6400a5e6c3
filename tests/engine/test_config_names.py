"""Configs by name: the published and demo configs ship in the package and ``--cfg`` takes their names."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pytest

from videofocalnet.cli import main
from videofocalnet.data.label_sets import LABEL_SETS, find_label_set
from videofocalnet.engine.config import ConfigError, config_to_dict, list_configs, load_config

REPO_ROOT = Path(__file__).resolve().parents[2]
PACKAGED = REPO_ROOT / "src" / "videofocalnet" / "configs"
PUBLISHED = [
    "activitynet/video_focalnet_base_8x224",
    "diving48/video_focalnet_base_8x224",
    "k400/video_focalnet_base_8x224",
    "k400/video_focalnet_small_8x224",
    "k400/video_focalnet_tiny_8x224",
    "k600/video_focalnet_base_8x224",
    "ssv2/video_focalnet_base_8x224",
]
FINETUNE = ["finetune/ucf101_from_k400_tiny"]  # examples on data of the user's own (no shipped label set)
DEMO_OPTS = ["AUG.REVERSE_PAIRS", "[[0, 1]]"]  # the demo fills its reversal pairs from the generated dataset


def test_list_configs_is_the_package_folder():
    assert list_configs() == sorted([*PUBLISHED, *FINETUNE, "demo"])
    on_disk = sorted(str(p.relative_to(PACKAGED).with_suffix("")) for p in PACKAGED.rglob("*.yaml"))
    assert list_configs() == on_disk
    # the repository's configs/ is a link to the package folder, not a second copy
    assert (REPO_ROOT / "configs").is_symlink() and (REPO_ROOT / "configs").resolve() == PACKAGED.resolve()


@pytest.mark.parametrize("name", [*PUBLISHED, *FINETUNE, "demo"])
def test_every_packaged_config_loads_and_validates(name):
    opts = DEMO_OPTS if name == "demo" else None
    by_name = load_config(name, opts)
    with resources.as_file(resources.files("videofocalnet") / "configs" / f"{name}.yaml") as path:
        by_path = load_config(path, opts)
    assert config_to_dict(by_name) == config_to_dict(by_path)
    assert config_to_dict(load_config(f"{name}.yaml", opts)) == config_to_dict(by_name)
    if name in PUBLISHED:  # the published configs name a shipped label set of the right size
        found = find_label_set(
            dataset=by_name.DATA.DATASET, label_list=by_name.DATA.LABEL_LIST, num_classes=by_name.MODEL.NUM_CLASSES
        )
        assert found is not None and LABEL_SETS[found] == by_name.MODEL.NUM_CLASSES, name


def test_names_resolve_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no configs/ here: only the package can answer
    cfg = load_config("k400/video_focalnet_tiny_8x224")
    assert cfg.MODEL.TYPE == "videofocalnet_tiny" and cfg.DATA.NUM_CLASSES == 400
    # the source checkout's spelling, typed elsewhere, still means the packaged file
    legacy = load_config("configs/k400/video_focalnet_tiny_8x224.yaml")
    assert config_to_dict(legacy) == config_to_dict(cfg)


def test_an_existing_file_wins_over_a_packaged_name(tmp_path, monkeypatch):
    own = tmp_path / "k400" / "video_focalnet_tiny_8x224.yaml"
    own.parent.mkdir()
    own.write_text("MODEL:\n  TYPE: video_focalnet_small\n  NUM_CLASSES: 7\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    cfg = load_config("k400/video_focalnet_tiny_8x224.yaml")
    assert cfg.MODEL.TYPE == "video_focalnet_small" and cfg.MODEL.NUM_CLASSES == 7
    assert load_config("k400/video_focalnet_tiny_8x224").MODEL.NUM_CLASSES == 400  # no such file: the package's
    assert load_config(own).MODEL.NUM_CLASSES == 7  # and a path of course


def test_base_includes_of_a_file_still_resolve(tmp_path):
    (tmp_path / "base.yaml").write_text("DATA:\n  NUM_CLASSES: 5\n", encoding="utf-8")
    (tmp_path / "child.yaml").write_text("BASE: ['base.yaml']\nMODEL:\n  TYPE: video_focalnet_nano\n", encoding="utf-8")
    cfg = load_config(tmp_path / "child.yaml")
    assert cfg.MODEL.NUM_CLASSES == 5 and cfg.MODEL.TYPE == "video_focalnet_nano"


def test_an_unknown_name_is_one_line_naming_the_choices():
    with pytest.raises(ConfigError) as info:
        load_config("k400/video_focalnet_tiny")
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("config 'k400/video_focalnet_tiny' not found: no such file, and no packaged config")
    assert "did you mean 'k400/video_focalnet_tiny_8x224'?" in message
    assert all(name in message for name in list_configs())
    with pytest.raises(ConfigError, match=r"^config 'imagenet_base' not found: .* \(packaged: activitynet/") as info:
        load_config("imagenet_base")
    assert "did you mean" not in str(info.value)


def test_a_directory_is_not_a_config(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, not a YAML file"):
        load_config(tmp_path)


def test_cli_list_configs(capsys):
    assert main(["list-configs"]) == 0
    assert capsys.readouterr().out.split() == list_configs()
    assert main(["list-configs", "--filter", "k400/"]) == 0
    assert capsys.readouterr().out.split() == [n for n in PUBLISHED if n.startswith("k400/")]


def test_train_with_an_unknown_name_stops_with_the_message(tmp_path, capsys):
    assert main(["train", "--cfg", "k400/video_focalnet_tiny_8x", "--output", str(tmp_path / "run")]) == 2
    assert "did you mean 'k400/video_focalnet_tiny_8x224'?" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_the_finetune_example_starts_from_weights_of_its_own_architecture():
    """Its zoo weights are the architecture MODEL.TYPE builds (so only the head is re-drawn), and the tiny model
    has the 13 layers its LAYER_DECAY comment counts."""
    from videofocalnet.engine.build import resolve_model_name
    from videofocalnet.models import create_model
    from videofocalnet.zoo import get_weights

    cfg = load_config("finetune/ucf101_from_k400_tiny")
    entry = get_weights(cfg.TRAIN.PRETRAINED_PATH)
    assert entry.video_model == resolve_model_name(cfg.MODEL.TYPE) and entry.num_frames == cfg.DATA.NUM_FRAMES
    assert entry.num_classes != cfg.MODEL.NUM_CLASSES == 101
    assert 0 < cfg.TRAIN.LAYER_DECAY < 1 and cfg.AUG.MIXUP == cfg.AUG.CUTMIX == 0
    import torch

    with torch.device("meta"):
        model = create_model(resolve_model_name(cfg.MODEL.TYPE))
    assert max(model.param_layer_ids().values()) == 13
