from __future__ import annotations

import pytest
import torch

from videofocalnet.data.mixup import Mixup, one_hot_smooth


def gen(seed: int) -> torch.Generator:
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def batch(b=4, t=3, h=16, w=20):
    # sample i is the constant i + 1 so the source of every pixel is readable
    x = torch.arange(1, b + 1, dtype=torch.float32).view(b, 1, 1, 1, 1).expand(b, t, 3, h, w).contiguous()
    return x, torch.tensor([0, 1, 2, 3][:b])


def test_one_hot_smooth():
    y = one_hot_smooth(torch.tensor([1, 0]), 4, 0.1)
    assert torch.allclose(y.sum(1), torch.ones(2))
    assert torch.allclose(y[0], torch.tensor([0.025, 0.925, 0.025, 0.025]))
    with pytest.raises(ValueError):
        one_hot_smooth(torch.tensor([4]), 4, 0.1)


def test_prob_zero_is_plain_smoothed_one_hot():
    x, y = batch()
    out, soft = Mixup(prob=0.0, num_classes=5)(x, y, gen(0))
    assert torch.equal(out, x)
    assert torch.allclose(soft, one_hot_smooth(y, 5, 0.1))


def test_mixup_only_blends_with_flipped_batch():
    x, y = batch()
    m = Mixup(mixup_alpha=0.8, cutmix_alpha=0.0, num_classes=5, label_smoothing=0.0)
    out, soft = m(x, y, gen(1))
    lam = m.last_lam
    assert 0 < lam < 1 and m.last_box is None
    expected = x * lam + x.flip(0) * (1 - lam)
    assert torch.allclose(out, expected)
    assert torch.allclose(soft[0, 0], torch.tensor(lam)) and torch.allclose(soft[0, 3], torch.tensor(1 - lam))
    assert torch.allclose(soft.sum(1), torch.ones(4))


def test_cutmix_same_box_every_frame_and_area_corrected_lam():
    x, y = batch()
    m = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=5)
    for seed in range(20):
        out, soft = m(x, y, gen(seed))
        y0, y1, x0, x1 = m.last_box
        from_other = out[0] == 4.0  # sample 0 receives pixels of sample 3 (the flipped batch)
        for t in range(1, x.shape[1]):
            assert torch.equal(from_other[t], from_other[0])
        area = (y1 - y0) * (x1 - x0)
        assert int(from_other[0, 0].sum()) == area
        assert m.last_lam == pytest.approx(1 - area / (16 * 20))
        assert torch.allclose(soft.sum(1), torch.ones(4))
        off = 0.1 / 5
        assert soft[0, 0].item() == pytest.approx(m.last_lam * (1 - 0.1 + off) + (1 - m.last_lam) * off)
    assert not torch.equal(x, out) or area == 0
    assert torch.equal(x, batch()[0])  # input untouched


def test_switch_and_determinism():
    x, y = batch()
    m = Mixup(num_classes=5)
    a = m(x, y, gen(7))
    b = m(x, y, gen(7))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    kinds = set()
    for seed in range(40):
        m(x, y, gen(seed))
        kinds.add(m.last_box is not None)
    assert kinds == {True, False}  # both mixup and cutmix get chosen


def test_shape_validation():
    with pytest.raises(ValueError):
        Mixup(num_classes=5)(torch.zeros(2, 3, 8, 8), torch.tensor([0, 1]))


def test_elem_mode_draws_per_clip_and_keeps_label_sums():
    x, y = batch(b=6)
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    m = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=5, mode="elem")
    out, soft = m(x, y, gen(3))
    assert out.shape == x.shape and torch.allclose(soft.sum(1), torch.ones(6))
    assert len(set(m.last_lams.tolist())) > 1  # every clip has its own lam (batch mode shares one)
    for i, (lam, box) in enumerate(zip(m.last_lams.tolist(), m.last_boxes)):
        partner = x[5 - i, 0, 0, 0, 0]
        if box is None:  # a blend of the clip and its mirror's original
            assert torch.allclose(out[i], x[i] * lam + partner * (1 - lam))
        else:
            y0, y1, x0, x1 = box
            assert torch.all(out[i, ..., y0:y1, x0:x1] == partner)
    again, soft_again = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=5, mode="elem")(x, y, gen(3))
    assert torch.equal(again, out) and torch.equal(soft_again, soft)  # seeded: reproducible
    assert torch.equal(x, batch(b=6)[0])  # input untouched


def test_pair_mode_mirrors_share_one_draw_and_swap_boxes():
    x, y = batch(b=5)  # odd: the middle clip stays itself
    y = torch.tensor([0, 1, 2, 3, 4])
    m = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, num_classes=5, mode="pair", label_smoothing=0.0)
    out, soft = m(x, y, gen(1))
    lams = m.last_lams.tolist()
    assert lams[0] == lams[4] and lams[1] == lams[3] and lams[2] == 1.0
    assert m.last_boxes[0] == m.last_boxes[4] and torch.equal(out[2], x[2])
    y0, y1, x0, x1 = m.last_boxes[0]
    assert torch.all(out[0, ..., y0:y1, x0:x1] == 5) and torch.all(out[4, ..., y0:y1, x0:x1] == 1)
    assert torch.allclose(soft.sum(1), torch.ones(5)) and soft[0, 0] == pytest.approx(lams[0])


def test_batch_mode_is_one_draw_for_all():
    x, y = batch()
    m = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, num_classes=5)
    m(x, y, gen(0))
    assert len(set(m.last_lams.tolist())) == 1 and len(set(m.last_boxes)) == 1


def test_cutmix_minmax_sets_the_box_size_and_switches_cutmix_on():
    x, y = batch(h=40, w=50)
    m = Mixup(mixup_alpha=0.0, cutmix_alpha=0.0, num_classes=5, cutmix_minmax=(0.2, 0.4))
    for seed in range(20):
        m(x, y, gen(seed))
        y0, y1, x0, x1 = m.last_box
        assert 8 <= y1 - y0 < 16 and 10 <= x1 - x0 < 20 and y0 >= 0 and y1 <= 40 and x0 >= 0 and x1 <= 50
        assert m.last_lam == pytest.approx(1 - (y1 - y0) * (x1 - x0) / (40 * 50))
    with pytest.raises(ValueError, match="cutmix_minmax"):
        Mixup(num_classes=5, cutmix_minmax=(0.5, 0.2))
    with pytest.raises(ValueError, match="mode must be one of batch, pair, elem"):
        Mixup(num_classes=5, mode="row")
