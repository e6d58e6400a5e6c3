"""Video-FocalNet: blocks, stage, model, then the registered factories (timm ``focalnet.py`` order).

The model is numerically the official one (``../shared/spec/model.md``) with three deliberate differences that
change no numbers for inputs the official model accepts:

* the frame count comes from the input at run time (the official bakes ``num_frames`` into every block);
* activations are never kept on modules (modulators are returned on request through a collector);
* tensors stay channels-last (B, T, H, W, C) from stem to head instead of hopping between layouts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, cast

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from videofocalnet.models.features import OUTPUT_FORMATS, feature_take_indices
from videofocalnet.models.focal_modulation import MODULATIONS, ModulatorCollector
from videofocalnet.models.kernels import patch_merge, takes_patch_merge
from videofocalnet.models.layers import INIT_SCHEMES, DropPath, DropPathMode, Mlp, init_weights_official
from videofocalnet.models.registry import register_model

__all__ = [
    "VideoFocalNet",
    "FocalNetBlock",
    "FocalNetStage",
    "PatchEmbed",
    "video_focalnet_tiny",
    "video_focalnet_small",
    "video_focalnet_base",
]


class PatchEmbed(nn.Module):
    """Stem (patch 4, optionally a (k, 4, 4) tubelet) or between-stage downsampling (patch 2), then LayerNorm.

    Keys ``proj`` and ``norm`` as in the official model. Odd spatial sizes are floored, as the official conv does.
    ``training_kernels`` (:func:`~videofocalnet.models.kernels.set_training_kernels`): a downsample computes its
    2x2 patches as one GEMM where that pays (:func:`~videofocalnet.models.kernels.patch_merge`); the same output.
    """

    training_kernels: bool = False

    def __init__(
        self,
        *,
        patch_size: int,
        in_chans: int,
        embed_dim: int,
        use_conv_embed: bool = False,
        is_stem: bool = False,
        tubelet_size: int = 1,
        norm: bool = True,
    ) -> None:
        super().__init__()
        self.tubelet_size = tubelet_size
        self.is_stem = is_stem
        self.proj: nn.Conv2d | nn.Conv3d
        if tubelet_size > 1:
            if use_conv_embed:
                raise ValueError("use_conv_embed cannot be combined with tubelet_size > 1 (the official model crashes)")
            self.proj = nn.Conv3d(
                in_chans,
                embed_dim,
                kernel_size=(tubelet_size, patch_size, patch_size),
                stride=(tubelet_size, patch_size, patch_size),
            )
        elif use_conv_embed:
            kernel, padding, stride = (7, 2, 4) if is_stem else (3, 1, 2)
            self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=kernel, stride=stride, padding=padding)
        else:
            self.proj = nn.Conv2d(in_chans, embed_dim, kernel_size=patch_size, stride=patch_size)
        self.norm = nn.LayerNorm(embed_dim) if norm else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Stem: (B, T, C_in, H, W) -> (B, T', H', W', C). Downsample: (B, T, H, W, C_in) -> (B, T, H', W', C)."""
        if not self.is_stem:
            B, T, H, W, C = x.shape
            x = x.reshape(B * T, H, W, C)  # (B*T, H, W, C)
            weight = self.proj.weight
            if self.training_kernels and self.proj.stride == self.proj.kernel_size and takes_patch_merge(x, weight):
                x = patch_merge(x, weight, self.proj.bias)  # -> (B*T, H', W', C')
            else:
                x = x.permute(0, 3, 1, 2)  # (B*T, C, H, W), channels_last strides
                x = self.proj(x).permute(0, 2, 3, 1)  # (B*T, C', H', W') -> (B*T, H', W', C')
            x = x.reshape(B, T, *x.shape[1:])  # -> (B, T, H', W', C')
        elif self.tubelet_size > 1:
            # The (k, p, p) Conv3d with stride (k, p, p) as a Conv2d: (B, T, C, H, W) memory is already
            # (B*T/k, k*C, H, W), each tubelet's k frames stacked as channels frame by frame, so the weight is
            # reordered instead of the clip (permuting the clip to (B, C, T, H, W) was a full copy per step).
            B, T, C, H, W = x.shape
            k = self.tubelet_size
            weight = cast(nn.Conv3d, self.proj).weight  # (C', C, k, p, p)
            weight = weight.transpose(1, 2).reshape(weight.shape[0], k * C, *weight.shape[3:])  # (C', k*C, p, p)
            x = x.reshape(B * (T // k), k * C, H, W)  # (B, T, C, H, W) -> (B*T', k*C, H, W), a view
            x = F.conv2d(x, weight, self.proj.bias, stride=self.proj.stride[1:])  # (B*T', C', H', W')
            x = x.permute(0, 2, 3, 1)  # -> (B*T', H', W', C')
            x = x.reshape(B, T // k, *x.shape[1:])  # -> (B, T', H', W', C')
        else:
            B, T = x.shape[:2]
            x = self.proj(x.flatten(0, 1))  # (B*T, C_in, H, W) -> (B*T, C', H', W')
            x = x.permute(0, 2, 3, 1)  # -> (B*T, H', W', C')
            x = x.reshape(B, T, *x.shape[1:])  # -> (B, T, H', W', C')
        if self.norm is not None:
            x = self.norm(x)
        return x


class FocalNetBlock(nn.Module):
    """Pre-norm (default) or post-norm residual block: modulation then MLP, each with layerscale and drop path."""

    def __init__(
        self,
        dim: int,
        *,
        mlp_ratio: float = 4.0,
        drop: float = 0.0,
        drop_path: float = 0.0,
        drop_path_mode: DropPathMode = "frame",
        focal_level: int = 2,
        focal_window: int = 3,
        use_layerscale: bool = False,
        layerscale_value: float = 1e-4,
        use_postln: bool = False,
        use_postln_in_modulation: bool = False,
        normalize_modulator: bool = False,
        modulation: str = "parallel",
    ) -> None:
        super().__init__()
        self.dim = dim
        self.use_postln = use_postln
        # Parameters registered before submodules, as the official block does, so the state-dict order matches.
        self.gamma_1: nn.Parameter | float
        self.gamma_2: nn.Parameter | float
        if use_layerscale:
            self.gamma_1 = nn.Parameter(layerscale_value * torch.ones(dim))
            self.gamma_2 = nn.Parameter(layerscale_value * torch.ones(dim))
        else:
            self.gamma_1 = self.gamma_2 = 1.0
        self.norm1 = nn.LayerNorm(dim)
        try:
            modulation_cls = MODULATIONS[modulation]
        except KeyError:
            raise ValueError(f"unknown modulation {modulation!r}; choose from {sorted(MODULATIONS)}") from None
        self.modulation = modulation_cls(
            dim,
            focal_window=focal_window,
            focal_level=focal_level,
            proj_drop=drop,
            use_postln_in_modulation=use_postln_in_modulation,
            normalize_modulator=normalize_modulator,
        )
        self.drop_path = DropPath(drop_path, mode=drop_path_mode) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, hidden_features=int(dim * mlp_ratio), drop=drop)

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H, W, C)."""
        if self.use_postln:
            x = x + self.drop_path(_scale(self.gamma_1, self.norm1(self.modulation(x, collector))))
            x = x + self.drop_path(_scale(self.gamma_2, self.norm2(self.mlp(x))))
        else:
            x = x + self.drop_path(_scale(self.gamma_1, self.modulation(self.norm1(x), collector)))
            x = x + self.drop_path(_scale(self.gamma_2, self.mlp(self.norm2(x))))
        return x


def _scale(gamma: torch.Tensor | float, x: torch.Tensor) -> torch.Tensor:
    """Layerscale ``gamma * x``; without layerscale (``gamma`` is the float 1.0) ``x`` itself, skipping a full pass."""
    return x if isinstance(gamma, float) and gamma == 1.0 else gamma * x


def run_blocks(
    blocks: nn.ModuleList, x: torch.Tensor, collector: ModulatorCollector | None, *, checkpointing: bool
) -> torch.Tensor:
    """Apply ``blocks`` in order, each under activation checkpointing when asked and gradients are being taken."""
    for blk in blocks:
        if checkpointing and collector is None and torch.is_grad_enabled():
            # preserve_rng_state (default) replays the same drop-path draws, so no number changes.
            x = checkpoint(blk, x, use_reentrant=False)
        else:
            x = blk(x, collector)
    return x


class FocalNetStage(nn.Module):
    """``depth`` blocks, then (except in the last stage) a patch-2 downsample that doubles the width.

    Named ``layers.{i}`` with ``blocks`` and ``downsample`` children, as in the official state dict.
    """

    def __init__(
        self,
        dim: int,
        *,
        out_dim: int | None,
        depth: int,
        drop_path: Sequence[float],
        use_checkpoint: bool = False,
        use_conv_embed: bool = False,
        **block_kwargs,
    ) -> None:
        super().__init__()
        self.grad_checkpointing = use_checkpoint
        self.blocks = nn.ModuleList(FocalNetBlock(dim, drop_path=drop_path[i], **block_kwargs) for i in range(depth))
        self.downsample = (
            PatchEmbed(patch_size=2, in_chans=dim, embed_dim=out_dim, use_conv_embed=use_conv_embed)
            if out_dim is not None
            else None
        )

    def forward(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, H, W, C) -> (B, T, H/2, W/2, 2C), or unchanged shape in the last stage."""
        x = run_blocks(self.blocks, x, collector, checkpointing=self.grad_checkpointing)
        if self.downsample is not None:
            x = self.downsample(x)
        return x


def _check_arguments(
    depths: Sequence[int],
    focal_levels: Sequence[int],
    focal_windows: Sequence[int],
    num_frames: int,
    tubelet_size: int,
    init_mode: str,
) -> None:
    """Reject constructor arguments the official model would accept and then fail on (or silently misuse)."""
    if init_mode not in INIT_SCHEMES:
        raise ValueError(f"init_mode must be one of {sorted(INIT_SCHEMES)}, got {init_mode!r}")
    if not (len(focal_levels) == len(focal_windows) == len(depths)):
        raise ValueError(
            f"depths, focal_levels and focal_windows need one entry per stage, got {list(depths)}, "
            f"{list(focal_levels)}, {list(focal_windows)}"
        )
    if tubelet_size < 1 or num_frames % tubelet_size:
        raise ValueError(f"num_frames ({num_frames}) must be a multiple of tubelet_size ({tubelet_size})")


def _feature_info(widths: Sequence[int], patch_size: int, tubelet_size: int) -> list[dict]:
    """timm's ``feature_info``: stage i's map (before its downsample) has ``widths[i]`` channels at a spatial stride
    of patch_size * 2**i and a temporal stride of tubelet_size."""
    return [
        {"num_chs": w, "reduction": patch_size * 2**i, "temporal_reduction": tubelet_size, "module": f"layers.{i}"}
        for i, w in enumerate(widths)
    ]


class VideoFocalNet(nn.Module):
    """Video-FocalNet for clip classification; input (B, T, 3, H, W), output (B, num_classes).

    Constructor keywords are the official ones, so configs and checkpoints of the released code carry over.
    ``num_frames`` is only the default clip length (for FLOP counts and export); any T divisible by
    ``tubelet_size`` works at run time. Ours beyond the official keywords: ``drop_path_mode`` ("frame" as the
    official, or "video"), ``modulation`` (the design-space variant) and ``init_mode`` ("official", or "fan_in" for
    training from scratch, see ``layers.init_weights_fan_in``).
    """

    def __init__(
        self,
        *,
        img_size: int = 224,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: Sequence[int] = (2, 2, 6, 2),
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.1,
        patch_norm: bool = True,
        use_checkpoint: bool = False,
        focal_levels: Sequence[int] = (2, 2, 2, 2),
        focal_windows: Sequence[int] = (3, 3, 3, 3),
        use_conv_embed: bool = False,
        use_layerscale: bool = False,
        layerscale_value: float = 1e-4,
        use_postln: bool = False,
        use_postln_in_modulation: bool = False,
        normalize_modulator: bool = False,
        num_frames: int = 8,
        tubelet_size: int = 1,
        drop_path_mode: DropPathMode = "frame",
        modulation: str = "parallel",
        init_mode: Literal["official", "fan_in"] = "official",
    ) -> None:
        super().__init__()
        _check_arguments(depths, focal_levels, focal_windows, num_frames, tubelet_size, init_mode)
        depths = list(depths)
        num_stages = len(depths)
        self.init_mode = init_mode
        self.img_size = img_size
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_frames = num_frames
        self.tubelet_size = tubelet_size
        self.num_stages = num_stages
        self.embed_dim = [embed_dim * 2**i for i in range(num_stages)]
        self.num_features = self.embed_dim[-1]
        self.drop_path_mode = drop_path_mode
        self.modulation_type = modulation

        self.patch_embed = PatchEmbed(
            patch_size=patch_size,
            in_chans=in_chans,
            embed_dim=self.embed_dim[0],
            use_conv_embed=use_conv_embed,
            is_stem=True,
            tubelet_size=tubelet_size,
            norm=patch_norm,
        )
        self.pos_drop = nn.Dropout(drop_rate)
        # stochastic depth rises linearly over blocks (on the CPU, so meta-device construction works too)
        dpr = torch.linspace(0, drop_path_rate, sum(depths), device="cpu").tolist()
        # every block's settings that do not change from stage to stage
        block_kwargs = dict(mlp_ratio=mlp_ratio, drop=drop_rate, drop_path_mode=drop_path_mode, modulation=modulation)
        block_kwargs |= dict(use_layerscale=use_layerscale, layerscale_value=layerscale_value, use_postln=use_postln)
        block_kwargs |= dict(use_postln_in_modulation=use_postln_in_modulation, normalize_modulator=normalize_modulator)
        self.layers = nn.ModuleList(
            FocalNetStage(
                self.embed_dim[i],
                out_dim=self.embed_dim[i + 1] if i < num_stages - 1 else None,
                depth=depths[i],
                drop_path=dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                use_checkpoint=use_checkpoint,
                use_conv_embed=use_conv_embed,
                focal_level=focal_levels[i],
                focal_window=focal_windows[i],
                **block_kwargs,
            )
            for i in range(num_stages)
        )
        self.norm = nn.LayerNorm(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(INIT_SCHEMES[init_mode])
        self.feature_info = _feature_info(self.embed_dim, patch_size, tubelet_size)

    # ----------------------------------------------------------------------------------------------- helpers
    @torch.jit.ignore
    def no_weight_decay(self) -> set[str]:
        """Names of parameters that should not decay beyond the norms/biases/1-D rule (none in this model)."""
        return set()

    @torch.jit.ignore
    def set_grad_checkpointing(self, enable: bool = True) -> None:
        for stage in self.layers:
            cast(FocalNetStage, stage).grad_checkpointing = enable

    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int) -> None:
        """Replace the head with a freshly initialised one (Identity for 0 classes)."""
        self.num_classes = num_classes
        device = self.patch_embed.proj.weight.device
        self.head = nn.Linear(self.num_features, num_classes, device=device) if num_classes > 0 else nn.Identity()
        self.head.apply(init_weights_official)

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 5:
            raise ValueError(
                f"expected a clip batch of shape (B, T, {self.in_chans}, H, W), got shape {tuple(x.shape)}"
            )
        if x.shape[2] != self.in_chans:
            raise ValueError(
                f"expected {self.in_chans} channels at dim 2 of (B, T, C, H, W), got shape {tuple(x.shape)}"
                " (is the clip laid out (B, C, T, H, W)? permute it with x.transpose(1, 2))"
            )
        T, H, W = x.shape[1], x.shape[3], x.shape[4]
        if self.tubelet_size > T or T % self.tubelet_size:
            raise ValueError(
                f"the number of frames ({T}) must be a positive multiple of tubelet_size ({self.tubelet_size})"
            )
        if H < 32 or W < 32:
            raise ValueError(f"frames must be at least 32x32 (4 stages of downsampling), got {H}x{W}")

    # ----------------------------------------------------------------------------------------------- forward
    def forward_tokens(self, x: torch.Tensor, collector: ModulatorCollector | None = None) -> torch.Tensor:
        """(B, T, 3, H, W) -> last-stage tokens (B, T', H/32, W/32, C) after the final LayerNorm."""
        self._check_input(x)
        x = self.pos_drop(self.patch_embed(x))  # (B, T', H/4, W/4, C0)
        for stage in self.layers:
            x = stage(x, collector)
        return self.norm(x)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) -> (B, C): mean over frames and positions (features, not logits, are averaged).

        The official head pools each frame's tokens, then averages frames; with equal token counts per frame that is
        one mean over (T', H, W).
        """
        return self.forward_tokens(x).mean(dim=(1, 2, 3))

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:
        return self.head(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def forward_with_modulators(self, x: torch.Tensor) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
        """Logits plus, for every block in order, its spatial and temporal modulators, each (B, T', h, w, C).

        Nothing is stored on the modules: the collector lives only for this call.
        """
        collector: ModulatorCollector = []
        tokens = self.forward_tokens(x, collector)
        return self.forward_head(tokens.mean(dim=(1, 2, 3))), collector

    # ----------------------------------------------------------------------------------------------- features
    def forward_intermediates(
        self,
        x: torch.Tensor,
        indices: int | Sequence[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCTHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Per-stage feature maps for detection, localisation or retrieval heads (timm's API and semantics).

        Stage ``i``'s map is the output of its blocks, before its downsample (as FocalNet/Swin detection backbones
        take it): (B, embed_dim[i], T', H / (4 * 2**i), W / (4 * 2**i)) for ``output_fmt="NCTHW"``, or the
        channels-last (B, T', h, w, C) the model computes in for ``"NTHWC"`` (no copy). ``indices``: None = every
        stage, an int n = the last n, a list = those stages (negative counts from the end). ``norm`` applies the
        final LayerNorm to the last stage's map (the only one it belongs to). Returns the maps, or (final tokens
        after the final norm, (B, T', h, w, C) exactly as ``forward_tokens``, maps); ``stop_early`` skips the
        stages after the last one asked for (and then returns only the maps' final state, un-normed).
        """
        if output_fmt not in OUTPUT_FORMATS:
            raise ValueError(f"output_fmt must be one of {', '.join(OUTPUT_FORMATS)}, got {output_fmt!r}")
        take, max_index = feature_take_indices(len(self.layers), indices)
        self._check_input(x)
        last = len(self.layers) - 1
        stages = list(self.layers)[: max_index + 1] if stop_early else list(self.layers)
        intermediates: list[torch.Tensor] = []
        x = self.pos_drop(self.patch_embed(x))  # (B, T, 3, H, W) -> (B, T', H/4, W/4, C0)
        for i, stage in enumerate(stages):
            stage = cast(FocalNetStage, stage)
            x = run_blocks(stage.blocks, x, None, checkpointing=stage.grad_checkpointing)  # (B, T', h_i, w_i, C_i)
            if i in take:
                feat = self.norm(x) if norm and i == last else x
                # (B, T', h, w, C) -> (B, C, T', h, w): a strided view, channels_last_3d in memory
                intermediates.append(feat.permute(0, 4, 1, 2, 3) if output_fmt == "NCTHW" else feat)
            if stage.downsample is not None and not (stop_early and i == max_index):
                x = stage.downsample(x)  # (B, T', h, w, C) -> (B, T', h/2, w/2, 2C)
        if intermediates_only:
            return intermediates
        return (self.norm(x) if len(stages) == len(self.layers) else x), intermediates

    def prune_intermediate_layers(
        self, indices: int | Sequence[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop what :meth:`forward_intermediates` with these ``indices`` never reaches (timm's API): later stages,
        the last kept stage's downsample, the final norm when ``prune_norm``, the head when ``prune_head``. The
        pruned model serves ``forward_intermediates`` only. Returns the kept stage indices."""
        take, max_index = feature_take_indices(len(self.layers), indices)
        self.layers = self.layers[: max_index + 1]
        last = cast(FocalNetStage, self.layers[-1])
        last.downsample = None
        self.feature_info = self.feature_info[: max_index + 1]
        if prune_norm or max_index < self.num_stages - 1:  # the final norm belongs to the last stage only
            self.norm = nn.Identity()  # type: ignore[assignment]
        if prune_head:
            self.reset_classifier(0)
        return take

    def param_layer_ids(self) -> dict[str, int]:
        """Parameter name -> layer id for layer-wise learning-rate decay (BEiT / ConvNeXt recipes): the stem is 0,
        blocks count 1, 2, ... through the stages, a stage's downsample takes the id of the block it feeds, and
        the final norm and head take the last id (the number of layers), so they keep the full rate."""
        offsets = [0]
        for stage in self.layers:
            offsets.append(offsets[-1] + len(cast(FocalNetStage, stage).blocks))
        return {name: self._layer_id(name, offsets) for name, _ in self.named_parameters()}

    def _layer_id(self, name: str, offsets: list[int]) -> int:
        parts = name.split(".")
        if parts[0] == "patch_embed":
            return 0
        if parts[0] == "layers" and parts[2] == "blocks":
            return offsets[int(parts[1])] + int(parts[3]) + 1
        if parts[0] == "layers" and parts[2] == "downsample":
            return offsets[int(parts[1]) + 1] + 1
        return offsets[-1] + 1  # norm, head


# --------------------------------------------------------------------------------------------------- factories
def _create(defaults: dict, overrides: dict) -> VideoFocalNet:
    return VideoFocalNet(**{**defaults, **overrides})


_COMMON = dict(num_classes=400, focal_levels=(2, 2, 2, 2), focal_windows=(3, 3, 3, 3), num_frames=8)


@register_model
def video_focalnet_tiny(**kwargs) -> VideoFocalNet:
    """Video-FocalNet-T: FocalNet-T (SRF) widths and depths, 49.55M parameters with 400 classes."""
    return _create(dict(_COMMON, embed_dim=96, depths=(2, 2, 6, 2), drop_path_rate=0.2), kwargs)


@register_model
def video_focalnet_small(**kwargs) -> VideoFocalNet:
    """Video-FocalNet-S: 88.74M parameters with 400 classes."""
    return _create(dict(_COMMON, embed_dim=96, depths=(2, 2, 18, 2), drop_path_rate=0.3), kwargs)


@register_model
def video_focalnet_base(**kwargs) -> VideoFocalNet:
    """Video-FocalNet-B: 157.39M parameters with 400 classes."""
    return _create(dict(_COMMON, embed_dim=128, depths=(2, 2, 18, 2), drop_path_rate=0.5), kwargs)


@register_model
def video_focalnet_nano(**kwargs) -> VideoFocalNet:
    """A small Video-FocalNet (widths 32-256, depths 1-1-2-1) for CPU demos, tests and quick experiments."""
    return _create(dict(_COMMON, embed_dim=32, depths=(1, 1, 2, 1), drop_path_rate=0.0, img_size=64), kwargs)
