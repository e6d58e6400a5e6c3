"""Any weights, by file, URL, Hub id or zoo name -> a model with its preprocessing and class names.

Every command and API that takes weights (``predict``, ``eval``, ``export``, ``visualize``, ``convert-weights``,
``VideoClassifier.from_checkpoint``, ``create_model(pretrained=...)``) reads them through :func:`read_checkpoint`,
which understands, without executing pickled code:

* our safetensors files (the config, preprocessing and class names are embedded);
* ``last.pt`` training states (the run's config is inside; ``use_ema`` picks the EMA weights);
* released Video-FocalNet ``.pth`` files exactly as the official ``save_checkpoint`` writes them (``{'model', ...,
  'config': <yacs CfgNode>}``): the embedded official config gives the architecture, the frame count, input size
  and class count, and its dataset the class names (shipped in the package for the five published datasets);
* bare state dicts and ImageNet FocalNet checkpoints, whose architecture is read off the tensor shapes.

The result is a :class:`Checkpoint` whose ``config`` has the layout of our safetensors metadata (``model_name``,
``model_kwargs``, ``preprocess``, ``labels``, ``config``, ``source``), so :meth:`Checkpoint.save` (what
``convert-weights`` does) keeps everything the input said. :func:`save_pretrained` / :func:`from_pretrained` write
and read the Hugging Face layout (``config.json`` + ``model.safetensors``) of a directory or a Hub repository.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from videofocalnet.models.convert import (
    FMT_MICROSOFT,
    FMT_TIMM,
    CheckpointMismatchError,
    checkpoint_filter_fn,
    detect_format,
)
from videofocalnet.models.pretrained import find_mismatches, mismatch_message
from videofocalnet.models.registry import as_features, infer_model_config
from videofocalnet.models.registry import create_model as _create_registered
from videofocalnet.safe_pickle import ConfigNode, to_plain
from videofocalnet.weights import (
    FMT_OURS,
    FORMAT_VERSION,
    _is_safetensors,
    _unwrap,
    load_safetensors_file,
    load_torch_object,
    read_metadata,
    save_weights,
)

__all__ = [
    "FMT_RELEASED",
    "FMT_TRAINING",
    "Checkpoint",
    "create_model",
    "from_pretrained",
    "load_model_checkpoint",
    "local_path",
    "read_checkpoint",
    "read_checkpoint_config",
    "save_pretrained",
]

FMT_RELEASED = "released"  # an official training checkpoint: {'model', 'optimizer', ..., 'config': yacs CfgNode}
FMT_TRAINING = "last.pt"  # our resumable training state
_IMAGENET = (FMT_MICROSOFT, FMT_TIMM)
_TRAINING_ONLY_KWARGS = ("use_checkpoint",)  # constructor keywords that only matter while training
# MODEL.FOCAL keys the official build_model never passes to the constructor: in a released config they describe
# nothing (MODEL.TYPE alone chose the architecture), so they must not override the registered factory's values
_OFFICIAL_UNPASSED = ("embed_dim", "depths", "patch_size", "mlp_ratio", "patch_norm", "in_chans", "layerscale_value")
HF_CONFIG, HF_WEIGHTS = "config.json", "model.safetensors"
_FILE_SUFFIXES = (".pth", ".pt", ".safetensors", ".bin", ".ckpt", ".tar")  # a spec ending so names a local file


@dataclass
class Checkpoint:
    """What a weight file says about the model it holds, whatever its format.

    ``state_dict`` has our (the official) key names; ``config`` has the layout of our safetensors metadata;
    ``format`` is ``FMT_OURS``, ``FMT_RELEASED``, ``FMT_TRAINING`` or the key layout of a bare state dict
    (``FMT_VIDEO``, ``FMT_MICROSOFT``, ``FMT_TIMM``).
    """

    path: Path
    format: str
    state_dict: dict[str, torch.Tensor]
    config: dict[str, Any]
    ema_state_dict: dict[str, torch.Tensor] | None = field(default=None, repr=False)

    @property
    def is_imagenet(self) -> bool:
        return self.format in _IMAGENET

    @property
    def model_name(self) -> str:
        return str(self.config["model_name"])

    @property
    def model_kwargs(self) -> dict[str, Any]:
        return dict(self.config["model_kwargs"])

    def weights(self, *, use_ema: bool = False) -> dict[str, torch.Tensor]:
        if not use_ema:
            return self.state_dict
        if self.ema_state_dict is None:
            raise CheckpointMismatchError(f"{self.path}: EMA weights asked for, but the checkpoint has none")
        return self.ema_state_dict

    def build_model(self, *, use_ema: bool = False) -> nn.Module:
        """The model, weights loaded strictly. ImageNet weights are refused: they initialise a video model for
        training (their temporal branch and head do not exist yet), they do not classify videos."""
        if self.is_imagenet:
            raise CheckpointMismatchError(
                f"{self.path}: ImageNet FocalNet weights ({self.format} layout) cannot classify videos; use them to "
                "initialise training (TRAIN.PRETRAINED_PATH) or convert them (videofocalnet convert-weights)"
            )
        model = _create_registered(self.model_name, **self.model_kwargs)
        state = self.weights(use_ema=use_ema)
        missing, unexpected, shapes = find_mismatches(model.state_dict(), state)
        if missing or unexpected or shapes:
            raise CheckpointMismatchError(mismatch_message(str(self.path), self.format, missing, unexpected, shapes))
        model.load_state_dict(state, strict=True)
        return model

    def save(self, path: str | os.PathLike[str], *, use_ema: bool = False) -> Path:
        """Our safetensors file with everything this checkpoint said (config, preprocessing, class names, source)."""
        extra = {k: v for k, v in self.config.items() if k not in ("format_version", "model_name", "model_kwargs")}
        return save_weights(
            path,
            self.weights(use_ema=use_ema),
            model_name=self.model_name,
            model_kwargs=self.model_kwargs,
            extra=extra,
        )


# ------------------------------------------------------------------------------------------------ reading
def local_path(spec: str | os.PathLike[str], *, progress: bool = True) -> Path:
    """A local file as given; anything else (zoo name, URL, ``hf-hub:`` id) through the download cache."""
    path = Path(spec)
    if path.exists():
        if path.is_dir():
            if (path / HF_WEIGHTS).is_file():  # a save_pretrained folder
                return path / HF_WEIGHTS
            raise FileNotFoundError(f"{path}: a folder, not a checkpoint file (and no {HF_WEIGHTS} inside)")
        return path
    text = str(spec)
    remote = text.startswith(("http://", "https://", "hf-hub:"))
    if not remote and (os.sep in text or "/" in text or path.suffix.lower() in _FILE_SUFFIXES):
        raise FileNotFoundError(f"checkpoint not found: {spec}")
    from videofocalnet.download import resolve_weights  # a URL, a Hub id or a zoo name

    return resolve_weights(str(spec), progress=progress)


def _run_config_entries(cfg: Any, *, model_name: str | None = None, official: bool = False) -> dict[str, Any]:
    """model_name / model_kwargs / preprocess / labels / config of an experiment config (ours, or an official one
    converted): what the engine writes into the weights it exports."""
    from videofocalnet.engine import build
    from videofocalnet.engine.config import config_to_dict

    drop = _TRAINING_ONLY_KWARGS + (_OFFICIAL_UNPASSED if official else ())
    kwargs = {k: v for k, v in build.model_kwargs(cfg).items() if k not in drop}
    return {
        "format_version": FORMAT_VERSION,
        "model_name": model_name or build.resolve_model_name(cfg.MODEL.TYPE),
        "model_kwargs": kwargs,
        "preprocess": build.eval_preprocess(cfg).to_dict(),
        "labels": build.class_names(cfg),
        "config": config_to_dict(cfg),
    }


def _official_model_name(cfg: Any, state: Mapping[str, torch.Tensor], path: Path) -> str:
    """MODEL.TYPE (or MODEL.NAME) of an official config, checked against the architecture of the weights."""
    from videofocalnet.engine import build
    from videofocalnet.engine.config import ConfigError

    inferred, inferred_kwargs = infer_model_config(state, tubelet_size=cfg.MODEL.TUBELET_SIZE)
    for value in (cfg.MODEL.TYPE, cfg.MODEL.NAME):
        try:
            named = build.resolve_model_name(value)
        except ConfigError:
            continue
        if named != inferred and "embed_dim" not in inferred_kwargs:
            raise CheckpointMismatchError(
                f"{path}: its config names {value!r} ({named}) but the weights are a {inferred}"
            )
        return named
    return inferred


def _from_released(obj: Mapping[str, Any], path: Path) -> Checkpoint:
    from videofocalnet.engine.config import config_from_official

    state = checkpoint_filter_fn(_unwrap(obj, path))
    cfg = config_from_official(to_plain(obj["config"]), source=str(path))
    config = _run_config_entries(cfg, model_name=_official_model_name(cfg, state, path), official=True)
    config["source"] = {
        "path": str(path),
        "format": FMT_RELEASED,
        "epoch": obj.get("epoch"),
        "max_accuracy": _number(obj.get("max_accuracy")),
    }
    return Checkpoint(path, FMT_RELEASED, state, config)


def _from_training_state(obj: Mapping[str, Any], path: Path) -> Checkpoint:
    from videofocalnet.engine.config import config_from_dict
    from videofocalnet.engine.train import CheckpointKey as K

    cfg = config_from_dict(dict(obj[K.CONFIG]), source=str(path))
    config = _run_config_entries(cfg)
    if config["labels"] is None and isinstance(obj.get(K.LABELS), list):  # the label file has not travelled
        config["labels"] = list(obj[K.LABELS])
    progress = obj.get(K.PROGRESS) or {}
    config["source"] = {"path": str(path), "format": FMT_TRAINING, "epoch": progress.get("epoch")}
    ema = obj.get(K.EMA)
    return Checkpoint(path, FMT_TRAINING, dict(obj[K.MODEL]), config, ema_state_dict=dict(ema) if ema else None)


def _from_state_dict(raw: dict[str, torch.Tensor], path: Path) -> Checkpoint:
    """No config: the architecture from the shapes; preprocessing and class names unknown (official defaults)."""
    fmt = detect_format(raw)
    name, kwargs = infer_model_config(raw)
    config = {
        "format_version": FORMAT_VERSION,
        "model_name": name,
        "model_kwargs": kwargs,
        "source": {"path": str(path), "format": fmt},
    }
    return Checkpoint(path, fmt, checkpoint_filter_fn(raw), config)


def _number(value: Any) -> float | None:
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        return float(value)
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _from_ours(path: Path) -> Checkpoint:
    tensors = load_safetensors_file(path)
    meta = read_metadata(path)
    if meta is None or "model_name" not in meta:  # a safetensors file that we did not write (timm's, say)
        return _from_state_dict(tensors, path)
    version = meta.get("format_version")
    if version != FORMAT_VERSION:
        raise CheckpointMismatchError(f"{path}: format_version {version!r}, this version reads {FORMAT_VERSION}")
    if "model_kwargs" not in meta:
        raise CheckpointMismatchError(f"{path}: metadata lacks 'model_kwargs'")
    if "preprocess" not in meta and isinstance(meta.get("config"), dict):
        # an export that predates the preprocess block: derive it from the run's config, as the engine now does
        from videofocalnet.engine import build
        from videofocalnet.engine.config import config_from_dict

        cfg = config_from_dict(meta["config"], source=str(path))
        meta["preprocess"] = build.eval_preprocess(cfg).to_dict()
    return Checkpoint(path, FMT_OURS, tensors, meta)


def read_checkpoint(spec: str | os.PathLike[str], *, progress: bool = True) -> Checkpoint:
    """Read weights from a file, an ``https://`` URL, an ``hf-hub:`` id or a zoo name (see module docstring)."""
    path = local_path(spec, progress=progress)
    ckpt = _read_file(path)
    entry = _zoo_entry(str(spec))
    if entry is not None and not ckpt.config.get("labels") and entry.label_set and not ckpt.is_imagenet:
        from videofocalnet.data.label_sets import class_names  # the zoo knows the dataset the file was trained on

        names = class_names(entry.label_set)
        if len(names) == ckpt.model_kwargs.get("num_classes"):
            ckpt.config["labels"] = names
    return ckpt


def _zoo_entry(spec: str) -> Any:
    from videofocalnet.zoo import UnknownWeightsError, get_weights

    if Path(spec).exists():
        return None
    try:
        return get_weights(spec)
    except UnknownWeightsError:
        return None


def _read_file(path: Path) -> Checkpoint:
    if _is_safetensors(path):
        return _from_ours(path)
    from videofocalnet.engine.train import CheckpointKey as K

    obj = load_torch_object(path)
    if isinstance(obj, Mapping) and isinstance(obj.get("config"), ConfigNode):
        return _from_released(obj, path)
    if isinstance(obj, Mapping) and isinstance(obj.get(K.CONFIG), dict) and K.PROGRESS in obj:
        return _from_training_state(obj, path)
    return _from_state_dict(_unwrap(obj, path), path)


def read_checkpoint_config(spec: str | os.PathLike[str]) -> dict[str, Any]:
    """The config of any checkpoint, in our metadata layout (format_version, model_name, model_kwargs, extras)."""
    return read_checkpoint(spec).config


def load_model_checkpoint(
    spec: str | os.PathLike[str], *, map_location: str | torch.device = "cpu", use_ema: bool = False
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild the model of any video checkpoint and load its weights strictly. Returns (model, config)."""
    ckpt = read_checkpoint(spec)
    return ckpt.build_model(use_ema=use_ema).to(map_location), ckpt.config


# ------------------------------------------------------------------------------------------------ by name
def create_model(
    name: str,
    *,
    pretrained: bool | str = False,
    features_only: bool = False,
    out_indices: int | Sequence[int] | None = None,
    output_fmt: str = "NCTHW",
    feature_norm: bool = False,
    **kwargs: Any,
) -> nn.Module:
    """timm-style: ``create_model("video_focalnet_base", pretrained="k400")`` builds the registered model and loads
    the zoo's weights (``True`` takes the first zoo entry of that model). ``pretrained`` may also be a file, URL or
    ``hf-hub:`` id. Keyword overrides apply; a classifier of another size is re-drawn (fine-tuning).
    ``features_only=True`` returns the stage-map module (see ``videofocalnet.models.registry.create_model``), with
    the weights loaded first."""
    model = _create_pretrained(name, pretrained, **kwargs)
    if not features_only:
        return model
    return as_features(model, out_indices, output_fmt=output_fmt, norm=feature_norm)


def _create_pretrained(name: str, pretrained: bool | str, **kwargs: Any) -> nn.Module:
    if not pretrained:
        return _create_registered(name, **kwargs)
    from videofocalnet.weights import load_pretrained

    spec = _pretrained_spec(name, pretrained)
    ckpt = read_checkpoint(spec)
    if ckpt.is_imagenet:
        model = _create_registered(name, **kwargs)
    else:
        model = _create_registered(name, **{**ckpt.model_kwargs, **kwargs})
    load_pretrained(model, ckpt.state_dict)
    return model


def _pretrained_spec(name: str, pretrained: bool | str) -> str:
    """``True`` -> the model's first zoo entry; a tag (``"k400"``) -> ``<name>.<tag>``; a full zoo name, a file, a
    URL or an ``hf-hub:`` id as given."""
    from videofocalnet import zoo

    if pretrained is True:
        return zoo.weights_for(name).name
    assert isinstance(pretrained, str)
    if Path(pretrained).exists() or "/" in pretrained or ":" in pretrained or _zoo_entry(pretrained) is not None:
        return pretrained
    return zoo.get_weights(name, pretrained).name


# ------------------------------------------------------------------------------------------------ Hub layout
def save_pretrained(
    save_directory: str | os.PathLike[str],
    model: nn.Module,
    *,
    model_name: str,
    model_kwargs: Mapping[str, Any],
    preprocess: Mapping[str, Any] | None = None,
    labels: list[str] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """The Hugging Face layout: ``config.json`` (model config, preprocessing, class names) + ``model.safetensors``
    (the same config embedded), ready for ``huggingface_hub.upload_folder``."""
    out = Path(save_directory)
    out.mkdir(parents=True, exist_ok=True)
    meta: dict[str, Any] = dict(extra or {})
    if preprocess is not None:
        meta["preprocess"] = dict(preprocess)
    if labels is not None:
        meta["labels"] = list(labels)
    save_weights(out / HF_WEIGHTS, model, model_name=model_name, model_kwargs=model_kwargs, extra=meta)
    # save_weights wrote the sidecar as model.json; the Hub convention names it config.json
    os.replace(out / Path(HF_WEIGHTS).with_suffix(".json"), out / HF_CONFIG)
    return out


def from_pretrained(
    name_or_path: str | os.PathLike[str], *, revision: str | None = None
) -> tuple[nn.Module, dict[str, Any]]:
    """(model, config) from a :func:`save_pretrained` folder or a Hub repository holding one."""
    path = Path(name_or_path)
    if path.is_dir():
        weights = path / HF_WEIGHTS
        if not weights.is_file():
            raise FileNotFoundError(f"{path}: no {HF_WEIGHTS} (expected a save_pretrained folder)")
    elif path.exists():
        weights = path
    else:
        from videofocalnet.download import hf_hub_file

        weights = hf_hub_file(str(name_or_path), HF_WEIGHTS, revision=revision)
    # config.json is for the Hub and for people; the copy in the safetensors header is the one read back
    ckpt = read_checkpoint(weights)
    return ckpt.build_model(), ckpt.config
