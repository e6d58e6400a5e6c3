"""Config tree: official YAMLs load unchanged, overrides are typed, typos are caught, our published configs match
the official hyper-parameters field by field."""

from __future__ import annotations

import pytest
import yaml

from videofocalnet.engine.build import model_kwargs, resolve_model_name
from videofocalnet.engine.config import (
    Config,
    ConfigError,
    all_keys,
    apply_opts,
    config_from_dict,
    config_to_dict,
    get_value,
    load_config,
    save_config,
)

# our packaged config (by name, see test_config_names.py) -> official file (relative to ../shared/official/configs)
OURS_VS_OFFICIAL = {
    "k400/video_focalnet_tiny_8x224.yaml": "kinetics400/video-focalnet_tiny.yaml",
    "k400/video_focalnet_small_8x224.yaml": "kinetics400/video-focalnet_small.yaml",
    "k400/video_focalnet_base_8x224.yaml": "kinetics400/video-focalnet_base.yaml",
    "k600/video_focalnet_base_8x224.yaml": "kinetics600/video-focalnet_base.yaml",
    "ssv2/video_focalnet_base_8x224.yaml": "ssv2/video-focalnet_base.yaml",
    "diving48/video_focalnet_base_8x224.yaml": "diving48/video-focalnet_base.yaml",
    "activitynet/video_focalnet_base_8x224.yaml": "activitynet/video-focalnet_base.yaml",
}

# Keys where our files deliberately differ from the official YAML, and why.
INTENTIONAL = {
    "DATA.ROOT",
    "DATA.TRAIN_FILE",
    "DATA.VAL_FILE",  # machine-specific paths
    "TRAIN.PRETRAINED_PATH",  # same file names, our placeholder folder
    "AUG.MIXUP_PROB",  # YAML says 0.5 but the released code ignores it and mixes every batch: 1.0 is the truth
    "TRAIN.PRECISION",  # official mixed precision comes from the CLI (apex O1 default) = fp16 here
    "SEED",  # explicit 0 = official default
}

# Hard-coded in the released code (recipe.md); ours makes them keys with these values.
RECIPE = {
    "DATA.NUM_FRAMES": 8,
    "DATA.INPUT_SIZE": 224,
    "DATA.BATCH_SIZE": 8,
    "DATA.SAMPLING": "tsn",
    "DATA.MEAN": [123.675, 116.28, 103.53],
    "DATA.STD": [58.395, 57.12, 57.375],
    "TRAIN.OPTIMIZER.NAME": "sgd",
    "TRAIN.OPTIMIZER.MOMENTUM": 0.9,
    "TRAIN.OPTIMIZER.NESTEROV": True,
    "TRAIN.BASE_LR": 0.1,
    "TRAIN.WARMUP_LR": 1e-3,
    "TRAIN.MIN_LR": 1e-3,
    "TRAIN.EPOCHS": 120,
    "TRAIN.WARMUP_EPOCHS": 20,
    "TRAIN.CLIP_GRAD": 5.0,
    "TRAIN.LR_SCHEDULER.NAME": "cosine",
    "TRAIN.SCALE_LR": True,
    "AUG.MIXUP": 0.8,
    "AUG.CUTMIX": 1.0,
    "AUG.MIXUP_PROB": 1.0,
    "AUG.MIXUP_SWITCH_PROB": 0.5,
    "AUG.LABEL_SMOOTH": 0.1,
    "AUG.COLOR_JITTER": 0.8,
    "AUG.BRIGHTNESS": 0.4,
    "AUG.CONTRAST": 0.4,
    "AUG.SATURATION": 0.2,
    "AUG.HUE": 0.1,
    "AUG.GRAY_SCALE": 0.2,
    "AUG.SCALE": [0.08, 1.0],
    "AUG.AUTO_AUGMENT": "none",
    "AUG.REPROB": 0.0,
    "TEST.FINAL_NUM_CLIP": 4,
    "TEST.FINAL_NUM_CROP": 3,
    "TEST.NUM_CLIP": 1,
    "TEST.NUM_CROP": 1,
    "MODEL.TUBELET_SIZE": 1,
}


def test_official_yamls_load_unchanged(official_dir):
    files = sorted((official_dir / "configs").glob("*/*.yaml"))
    assert len(files) == 7
    for path in files:
        raw = yaml.safe_load(path.read_text())
        cfg = load_config(path)
        for section, values in raw.items():  # every key written in the file arrived, with its type fixed
            if isinstance(values, dict):
                for key, value in values.items():
                    if isinstance(value, dict):
                        for sub, v in value.items():
                            assert get_value(cfg, f"{section}.{key}.{sub}") == v, (path, section, key, sub)
                    elif key == "WEIGHT_DECAY":  # "1e-4" is a string to PyYAML
                        assert pytest.approx(1e-4) == cfg.TRAIN.WEIGHT_DECAY
                    else:
                        assert get_value(cfg, f"{section}.{key}") == value, (path, section, key)
        assert resolve_model_name(cfg.MODEL.TYPE).startswith("video_focalnet_")


@pytest.mark.parametrize("ours", sorted(OURS_VS_OFFICIAL))
def test_our_configs_match_official_field_by_field(ours, official_dir):
    mine = load_config(ours)
    official = load_config(official_dir / "configs" / OURS_VS_OFFICIAL[ours])
    differing = {k for k in all_keys() if get_value(mine, k) != get_value(official, k)}
    # the official YAMLs leave these at the official defaults, which the released code never honoured or which
    # were hard-coded elsewhere; ours spells out the values the code really used
    hardcoded = {k for k in RECIPE if get_value(mine, k) == RECIPE[k]}
    unexplained = differing - INTENTIONAL - hardcoded
    assert not unexplained, {k: (get_value(mine, k), get_value(official, k)) for k in sorted(unexplained)}
    for key, value in RECIPE.items():
        assert get_value(mine, key) == pytest.approx(value) if isinstance(value, float) else value, key
    # dataset-specific facts from recipe.md
    assert (0.0 if "ssv2" in ours else 0.5) == mine.AUG.FLIP_RATIO
    assert {"tiny": 0.2, "small": 0.3, "base": 0.5}[ours.split("_")[2]] == mine.MODEL.DROP_PATH_RATE
    assert pytest.approx(1e-4) == mine.TRAIN.WEIGHT_DECAY and mine.TRAIN.OFFICIAL_NO_WEIGHT_DECAY_BUG is False


def test_published_model_sizes_from_our_configs():
    """MODEL.* of our configs build the published architectures (T/S/B parameter counts from recipe.md)."""
    import torch

    from videofocalnet.engine.build import build_model

    expected = {"k400/video_focalnet_tiny_8x224.yaml": 49_553_272, "ssv2/video_focalnet_base_8x224.yaml": 157_157_566}
    for rel, params in expected.items():
        cfg = load_config(rel)
        with torch.device("meta"):
            model = build_model(cfg)
        assert sum(p.numel() for p in model.parameters()) == params, rel


def test_opts_are_typed_and_nested():
    cfg = load_config(
        None,
        [
            "TRAIN.BASE_LR",
            "5e-2",
            "MODEL.FOCAL.DEPTHS",
            "[1, 1, 1, 1]",
            "TRAIN.EMA.ENABLED",
            "true",
            "TRAIN.CLIP_GRAD",
            "null",
            "DATA.NUM_FRAMES",
            "16",
            "MODEL.SPEC.X",
            "3",
        ],
        validate=False,
    )
    assert cfg.TRAIN.BASE_LR == 0.05 and isinstance(cfg.TRAIN.BASE_LR, float)
    assert cfg.MODEL.FOCAL.DEPTHS == [1, 1, 1, 1]
    assert cfg.TRAIN.EMA.ENABLED is True and cfg.TRAIN.CLIP_GRAD is None
    assert cfg.DATA.NUM_FRAMES == 16 and cfg.MODEL.SPEC == {"X": 3}
    # the free-form node merges, but nothing reads it: validation says so instead of ignoring it
    with pytest.raises(ConfigError, match=r"MODEL.SPEC \{'X': 3\} is not supported by videofocalnet"):
        cfg.validate()


@pytest.mark.parametrize(
    "opts, message",
    [
        (["TRAIN.BASE_LRR", "1"], "did you mean 'TRAIN.BASE_LR'"),
        (["train.base_lr", "1"], "keys are upper-case"),
        (["DATA.EPOCHS", "3"], "did you mean 'TRAIN.EPOCHS'"),
        (["TRAIN.EPOCHS", "ten"], "TRAIN.EPOCHS expects int, got 'ten'"),
        (["DATA.NUM_FRAMES", "[8]"], "DATA.NUM_FRAMES expects int"),
        (["TRAIN.BASE_LR"], "KEY VALUE pairs"),
        (["TRAIN.OPTIMIZER.NAME", "lamb"], "TRAIN.OPTIMIZER.NAME must be 'sgd' or 'adamw'"),
    ],
)
def test_bad_overrides_raise_clear_errors(opts, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("(", r"\(")):
        load_config(None, opts)


def test_unknown_key_in_file_names_file_and_suggestion(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("TRAIN:\n  WARMUP_EPOCH: 3\n")
    with pytest.raises(
        ConfigError,
        match=r"bad.yaml: unknown config key 'TRAIN.WARMUP_EPOCH'; did you mean "
        r"'TRAIN.WARMUP_EPOCHS'",
    ):
        load_config(path)


def test_base_inheritance_and_roundtrip(tmp_path):
    (tmp_path / "base.yaml").write_text("TRAIN:\n  EPOCHS: 7\n  BASE_LR: 0.2\n")
    (tmp_path / "child.yaml").write_text("BASE: ['base.yaml']\nTRAIN:\n  EPOCHS: 9\n")
    cfg = load_config(tmp_path / "child.yaml", ["TRAIN.WARMUP_EPOCHS", "2"])
    assert (cfg.TRAIN.EPOCHS, cfg.TRAIN.BASE_LR, cfg.TRAIN.WARMUP_EPOCHS) == (9, 0.2, 2)
    saved = save_config(cfg, tmp_path / "run" / "config.yaml")
    again = load_config(saved)
    assert again.BASE == [""]  # the saved file is self-contained
    assert {**config_to_dict(again), "BASE": None} == {**config_to_dict(cfg), "BASE": None}
    assert config_to_dict(config_from_dict(config_to_dict(cfg))) == config_to_dict(cfg)


def test_model_type_maps_to_registered_names_and_focal_none_keeps_registered_values():
    assert resolve_model_name("videofocalnet_base") == "video_focalnet_base"
    assert resolve_model_name("video-focalnet_small") == "video_focalnet_small"
    with pytest.raises(ConfigError, match="did you mean 'video_focalnet_tiny'"):
        resolve_model_name("videofocalnet_tinny")
    kwargs = model_kwargs(Config())
    assert "embed_dim" not in kwargs and "depths" not in kwargs  # registered architecture decides
    cfg = apply_opts(Config(), ["MODEL.FOCAL.EMBED_DIM", "16", "DATA.INPUT_SIZE", "64"])
    assert model_kwargs(cfg)["embed_dim"] == 16 and model_kwargs(cfg)["img_size"] == 64


def test_cross_field_validation():
    with pytest.raises(ConfigError, match=r"DATA.NUM_CLASSES \(3\) != MODEL.NUM_CLASSES \(5\)"):
        load_config(None, ["DATA.NUM_CLASSES", "3", "MODEL.NUM_CLASSES", "5"])
    with pytest.raises(ConfigError, match="multiple of MODEL.TUBELET_SIZE"):
        load_config(None, ["DATA.NUM_FRAMES", "7", "MODEL.TUBELET_SIZE", "2"])


@pytest.mark.parametrize("variant", ["parallel", "spatial", "joint", "divided"])
def test_model_variant_selects_the_design_space_modulation(variant):
    from videofocalnet.engine.build import build_model
    from videofocalnet.models import MODULATIONS

    cfg = load_config(
        None,
        [
            "MODEL.TYPE",
            "video_focalnet_nano",
            "DATA.NUM_CLASSES",
            "5",
            "DATA.INPUT_SIZE",
            "64",
            "MODEL.VARIANT",
            variant,
        ],
    )
    model = build_model(cfg)
    assert type(model.layers[0].blocks[0].modulation) is MODULATIONS[variant]


def test_model_variant_factorized_points_to_the_registered_models():
    with pytest.raises(ConfigError, match="video_focalnet_tiny_factorized"):
        load_config(None, ["DATA.NUM_CLASSES", "5", "MODEL.VARIANT", "factorized"])


def test_time_reversal_keys_reach_the_training_dataset(tiny_videos):
    from videofocalnet.engine.build import build_train_dataset

    with pytest.raises(ConfigError, match="AUG.REVERSE_PAIRS"):
        load_config(None, ["DATA.NUM_CLASSES", "3", "AUG.REVERSE_PROB", "0.5"])
    with pytest.raises(ConfigError, match="AUG.REVERSE_PROB must be in"):
        load_config(None, ["DATA.NUM_CLASSES", "3", "AUG.REVERSE_PROB", "2", "AUG.REVERSE_PAIRS", "[[0, 1]]"])
    cfg = load_config(
        None,
        [
            "DATA.NUM_CLASSES",
            "3",
            "DATA.ROOT",
            str(tiny_videos.root),
            "DATA.TRAIN_FILE",
            str(tiny_videos.train_list),
            "AUG.REVERSE_PROB",
            "0.5",
            "AUG.REVERSE_PAIRS",
            str([list(p) for p in tiny_videos.pairs]),
        ],
    )
    dataset = build_train_dataset(cfg)
    assert dataset.reverse_prob == 0.5 and dataset.reverse_label_map == [1, 0, 2]  # left <-> right, static stays
    assert dataset.decoded_cache is None  # off by default
    with pytest.raises(ValueError, match="outside"):
        build_train_dataset(
            load_config(
                None,
                [
                    "DATA.NUM_CLASSES",
                    "3",
                    "DATA.TRAIN_FILE",
                    str(tiny_videos.train_list),
                    "AUG.REVERSE_PROB",
                    "0.5",
                    "AUG.REVERSE_PAIRS",
                    "[[0, 3]]",
                ],
            )
        )


def test_cache_decoded_mb_reaches_the_training_dataset(tiny_videos):
    from videofocalnet.engine.build import build_train_dataset

    base = ["DATA.NUM_CLASSES", "3", "DATA.ROOT", str(tiny_videos.root), "DATA.TRAIN_FILE", str(tiny_videos.train_list)]
    dataset = build_train_dataset(load_config(None, [*base, "DATA.CACHE_DECODED_MB", "3"]))
    assert dataset.decoded_cache.max_bytes == 3 << 20
    with pytest.raises(ConfigError, match="DATA.CACHE_DECODED_MB must be >= 0, got -1"):
        load_config(None, [*base, "DATA.CACHE_DECODED_MB", "-1"])


def test_sampler_key_builds_the_class_balanced_sampler(tiny_videos):
    from videofocalnet.data.loader import ClassBalancedSampler
    from videofocalnet.engine.build import build_train_dataset, build_train_sampler

    base = ["DATA.NUM_CLASSES", "3", "DATA.ROOT", str(tiny_videos.root), "DATA.TRAIN_FILE", str(tiny_videos.train_list)]
    with pytest.raises(ConfigError, match="DATA.SAMPLER must be one of random, class_balanced"):
        load_config(None, [*base, "DATA.SAMPLER", "balanced"])
    with pytest.raises(ConfigError, match="class_balanced_both_ways needs AUG.REVERSE_PAIRS"):
        load_config(None, [*base, "DATA.SAMPLER", "class_balanced_both_ways"])
    plain = load_config(None, base)
    assert build_train_sampler(plain, build_train_dataset(plain), num_replicas=1, rank=0) is None
    # both ways with AUG.REVERSE_PROB 0: the dataset still gets the pair map, every other clip plays backwards
    cfg = load_config(
        None,
        [
            *base,
            "DATA.SAMPLER",
            "class_balanced_both_ways",
            "AUG.REVERSE_PAIRS",
            str([list(p) for p in tiny_videos.pairs]),
        ],
    )
    dataset = build_train_dataset(cfg)
    sampler = build_train_sampler(cfg, dataset, num_replicas=2, rank=1)
    assert isinstance(sampler, ClassBalancedSampler) and sampler.both_ways and sampler.rank == 1
    assert dataset.reverse_label_map == [1, 0, 2] and len(sampler) == len(dataset) // 2
    index, reverse = next(iter(sampler))
    assert dataset[(index, reverse)]["video"] is not None


def test_enumerated_keys_accept_what_their_implementing_modules_define():
    """Validation reads the registries (sampling modes, samplers, init schemes...), so the two cannot drift."""
    from typing import get_args

    from videofocalnet.data.loader import SAMPLERS
    from videofocalnet.data.sampling import SAMPLING_MODES
    from videofocalnet.engine.distributed import DEVICES, DIST_BACKENDS
    from videofocalnet.engine.optim import OPTIMIZERS
    from videofocalnet.engine.schedule import SCHEDULES
    from videofocalnet.models.design_space import VARIANTS
    from videofocalnet.models.layers import INIT_SCHEMES, DropPathMode

    pairs = ["AUG.REVERSE_PAIRS", "[[0, 1]]"]  # class_balanced_both_ways needs them
    registries = {
        "DATA.SAMPLING": SAMPLING_MODES,
        "DATA.SAMPLER": SAMPLERS,
        "MODEL.INIT": tuple(INIT_SCHEMES),
        "MODEL.VARIANT": tuple(v for v in VARIANTS if v != "factorized"),
        "MODEL.DROP_PATH_MODE": get_args(DropPathMode),
        "TRAIN.OPTIMIZER.NAME": OPTIMIZERS,
        "TRAIN.LR_SCHEDULER.NAME": SCHEDULES,
        "DEVICE": DEVICES,
        "DIST_BACKEND": DIST_BACKENDS,
    }
    for key, values in registries.items():
        for value in values:
            assert get_value(load_config(None, ["DATA.NUM_CLASSES", "5", *pairs, key, value]), key) == value
        with pytest.raises(ConfigError, match=f"{key} must be .*{values[-1]}.*, got 'nonsense'"):
            load_config(None, ["DATA.NUM_CLASSES", "5", key, "nonsense"])
    assert load_config(None, ["DATA.NUM_CLASSES", "5", "TRAIN.OPTIMIZER.NAME", "AdamW"]).TRAIN.OPTIMIZER.NAME == "AdamW"
