"""Weight-decay groups, LR scaling, the per-iteration schedule and the losses."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from videofocalnet.engine.config import load_config
from videofocalnet.engine.losses import SoftTargetCrossEntropy, build_criterion
from videofocalnet.engine.optim import build_optimizer, param_groups, scaled_lrs
from videofocalnet.engine.schedule import LRSchedule
from videofocalnet.models import create_model


def _tiny(**kw):
    return create_model(
        "video_focalnet_tiny", embed_dim=8, depths=[1, 1, 1, 1], img_size=32, num_classes=3, num_frames=4, **kw
    )


def test_no_decay_on_norms_biases_and_1d():
    model = _tiny(use_layerscale=True)
    groups = {g["name"]: g for g in param_groups(model, 0.05)}
    names = {id(p): n for n, p in model.named_parameters()}
    decay = {names[id(p)] for p in groups["decay"]["params"]}
    no_decay = {names[id(p)] for p in groups["no_decay"]["params"]}
    assert decay and no_decay and not decay & no_decay
    assert len(decay) + len(no_decay) == len(names)
    for name, p in model.named_parameters():
        expected_no_decay = p.ndim <= 1
        assert (name in no_decay) == expected_no_decay, name
    assert any("norm" in n for n in no_decay) and any(n.endswith(".bias") for n in no_decay)
    assert any("gamma" in n for n in no_decay)  # layer scale
    assert "head.weight" in decay and any("temporal" in n for n in decay)
    assert groups["decay"]["weight_decay"] == 0.05 and groups["no_decay"]["weight_decay"] == 0.0


def test_official_bug_switch_puts_everything_in_no_decay():
    model = _tiny()
    groups = param_groups(model, 1e-4, official_no_weight_decay_bug=True)
    assert [g["name"] for g in groups] == ["no_decay"]
    assert sum(p.numel() for p in groups[0]["params"]) == sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["sgd", "adamw"])
def test_decay_really_applies_only_to_decay_group(name):
    """With zero gradients, one optimizer step shrinks exactly the >= 2-D weights."""
    model = _tiny()
    for p in model.parameters():  # move norms/biases away from 0 so that decay would be visible
        torch.nn.init.constant_(p, 0.5) if p.ndim <= 1 else None
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = build_optimizer(model, name=name, lr=0.1, weight_decay=0.5)
    if name == "sgd":
        assert opt.defaults["nesterov"] and opt.defaults["momentum"] == 0.9
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    opt.step()
    for n, p in model.named_parameters():
        changed = not torch.equal(before[n], p.detach())
        assert changed == (p.ndim > 1), n


def test_fused_adamw_makes_the_same_updates():
    torch.manual_seed(0)
    plain_model, fused_model = _tiny(), _tiny()
    fused_model.load_state_dict(plain_model.state_dict())
    plain = build_optimizer(plain_model, name="adamw", lr=1e-2, weight_decay=0.05)
    fused = build_optimizer(fused_model, name="adamw", lr=1e-2, weight_decay=0.05, fused=True)
    assert fused.defaults["fused"] and not plain.defaults["fused"]
    for _ in range(5):
        for model, opt in ((plain_model, plain), (fused_model, fused)):
            torch.manual_seed(1)
            for p in model.parameters():
                p.grad = torch.randn_like(p)
            opt.step()
    for (name, a), b in zip(plain_model.named_parameters(), fused_model.parameters()):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-6, msg=name)
    assert load_config(None, ["DATA.NUM_CLASSES", "3"]).TRAIN.OPTIMIZER.FUSED  # on by default


def test_linear_lr_scaling():
    assert scaled_lrs(0.1, 1e-3, 1e-3, total_batch=32) == pytest.approx((0.1 / 16, 1e-3 / 16, 1e-3 / 16))
    assert scaled_lrs(0.1, 1e-3, 1e-3, total_batch=32, scale=False) == (0.1, 1e-3, 1e-3)


def test_cosine_schedule_matches_timm_formula_and_resumes():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = LRSchedule(opt, base_lr=0.1, total_steps=100, warmup_steps=10, warmup_lr=0.001, min_lr=0.002)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.001)  # first update uses the warm-up start
    lrs = [sched.lr_at(t) for t in range(120)]
    assert lrs[5] == pytest.approx(0.001 + 5 * (0.1 - 0.001) / 10)
    for t in (10, 50, 99):  # timm CosineLRScheduler(t_in_epochs=False): cosine over the whole run
        assert lrs[t] == pytest.approx(0.002 + 0.5 * (0.1 - 0.002) * (1 + math.cos(math.pi * t / 100)))
    assert lrs[100] == lrs[119] == pytest.approx(0.002)
    assert max(lrs) <= 0.1 + 1e-12 and all(a <= b for a, b in zip(lrs[:10], lrs[1:11]))
    for _ in range(37):
        sched.step()
    state = sched.state_dict()
    opt2 = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched2 = LRSchedule(opt2, base_lr=0.1, total_steps=100, warmup_steps=10, warmup_lr=0.001, min_lr=0.002)
    sched2.load_state_dict(state)
    assert opt2.param_groups[0]["lr"] == opt.param_groups[0]["lr"] == pytest.approx(lrs[37])
    longer = dict(state, total_steps=50)  # e.g. a run resumed with more epochs than the checkpoint had
    with pytest.warns(UserWarning, match="total_steps 50 -> 100"):
        sched2.load_state_dict(longer)
    assert sched2.step_count == 37


def test_soft_target_ce_equals_ce_with_smoothing():
    torch.manual_seed(0)
    logits, target = torch.randn(6, 5), torch.tensor([0, 1, 2, 3, 4, 0])
    smooth = 0.1
    soft = F.one_hot(target, 5).float() * (1 - smooth) + smooth / 5
    assert SoftTargetCrossEntropy()(logits, soft).item() == pytest.approx(
        F.cross_entropy(logits, target, label_smoothing=smooth).item(), rel=1e-6
    )
    hard = build_criterion(mixup_active=False, label_smoothing=smooth)
    assert hard(logits, target).item() == pytest.approx(SoftTargetCrossEntropy()(logits, soft).item(), rel=1e-6)
    with pytest.raises(ValueError, match="differ in shape"):
        SoftTargetCrossEntropy()(logits, soft[:, :4])
