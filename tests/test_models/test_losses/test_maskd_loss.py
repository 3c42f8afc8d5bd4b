"""MasKDLoss and its tokens against the official arithmetic.

The references re-express by hand, on one level, what the official code
computes (hunto/MasKD ``mmrazor/models/losses/maskd.py`` and
``mmdetection/maskd.py``; Gumpest/AvatarKD ``akd_maskd.py`` for the release's
AKD form), in the official order of operations: masked features as
``(N, T, C, H, W)`` tensors, squared, summed, divided. mmakd computes the
same quantity another way (one batched product), so loss and student
gradient are compared to float32 precision.
"""
import itertools

import pytest
import torch
import torch.nn.functional as F
from mmengine.logging import MessageHub
from mmrazor.registry import MODELS

import mmakd  # noqa: F401
from mmakd.models import MasKDLoss, ReceptiveTokens, dice_diversity
from mmakd.models.losses import TokensCheckpointMismatch
from mmakd.models.losses.base_losses import release_form

C, T = 8, 6


def official_masks(x: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    return (token.expand(n, -1, -1) @ x.view(n, -1, h * w)).sigmoid().view(
        n, -1, h, w)


def official_probs(x: torch.Tensor, tokens: ReceptiveTokens) -> torch.Tensor:
    return tokens.prob(x).softmax(1).unsqueeze(2)  # (N, T, 1, 1, 1)


def official_dice(inputs: torch.Tensor) -> torch.Tensor:
    pred = inputs[:, None, :, :]
    target = inputs[:, :, None, :]
    mask = pred.new_ones(pred.size(0), target.size(1), pred.size(2))
    mask[:, torch.arange(mask.size(1)), torch.arange(mask.size(2))] = 0
    a = torch.sum(pred * target, -1)
    b = torch.sum(pred * pred, -1) + 1e-12
    c = torch.sum(target * target, -1) + 1e-12
    return ((2 * a) / (b + c) * mask).sum() / mask.sum()


def official_maskd(y_s, y_t, tokens: ReceptiveTokens, student_masks: bool,
                   loss_weight: float) -> torch.Tensor:
    """``MasKDLoss.forward`` of the official code on one level."""
    mask = official_masks(y_t, tokens.mask_token)
    if student_masks:
        with torch.no_grad():
            mask = mask * official_masks(y_s, tokens.mask_token)
    masked_y_s = y_s.unsqueeze(1) * mask.unsqueeze(2)
    masked_y_t = y_t.unsqueeze(1) * mask.unsqueeze(2)
    loss = ((masked_y_s - masked_y_t)**2).sum((3, 4))
    loss = loss / mask.sum((2, 3)).unsqueeze(-1)
    weights = official_probs(y_t, tokens).flatten(1)
    loss = (loss.mean(-1) * weights).sum(-1)
    return loss_weight * loss.mean()


def batch_norm(x: torch.Tensor) -> torch.Tensor:
    """``nn.BatchNorm2d(C, affine=False)`` in training mode."""
    return F.batch_norm(x, None, None, training=True, eps=1e-5)


def release_akd_maskd(y_s, dropped_t, tokens, student_masks, loss_weight):
    """``AKD_MasKDLoss.forward`` on one level, after its dropout: both
    standardised by the level's BatchNorm, then MasKD."""
    return official_maskd(
        batch_norm(y_s), batch_norm(dropped_t), tokens, student_masks,
        loss_weight)


def fresh_message_hub(name: str) -> MessageHub:
    """A new MessageHub, now the current one (as a Runner makes its own)."""
    return MessageHub.get_instance(f'{name}-{next(_hub_ids)}')


_hub_ids = itertools.count()


@pytest.fixture
def at_iteration(request):
    """Sets mmengine's training iteration, as a Runner's hook does."""
    hub = fresh_message_hub(request.node.name)
    return lambda iteration: hub.update_info('iter', iteration)


@pytest.fixture
def features():
    torch.manual_seed(0)
    y_s = (torch.randn(3, C, 5, 7) * 2 + 0.5).requires_grad_()
    y_t = torch.randn(3, C, 5, 7) * 3
    return y_s, y_t


def maskd(**kwargs) -> MasKDLoss:
    torch.manual_seed(1)
    loss = MasKDLoss(C, num_tokens=T, **kwargs)
    # Tokens large enough that the masks are far from 0.5 everywhere.
    loss.tokens.mask_token.data.normal_(0, 0.5)
    return loss


def loss_and_grad(fn, student):
    loss = fn()
    (grad, ) = torch.autograd.grad(loss, student)
    return loss.detach(), grad


def test_receptive_tokens_match_the_official_module():
    torch.manual_seed(0)
    tokens = ReceptiveTokens(C, T)
    tokens.mask_token.data.normal_(0, 0.5)
    x = torch.randn(2, C, 4, 6)
    masked, dice = tokens(x)
    mask = official_masks(x, tokens.mask_token)
    out = (x.unsqueeze(1) * mask.unsqueeze(2) * official_probs(
        x, tokens)).sum(1)
    torch.testing.assert_close(masked, out)
    torch.testing.assert_close(dice, official_dice(mask.flatten(2)))
    torch.testing.assert_close(dice_diversity(mask), dice)
    # The official key names, which the official token files use.
    assert sorted(tokens.state_dict()) == [
        'mask_token', 'prob.0.bias', 'prob.0.weight', 'prob.2.bias',
        'prob.2.weight'
    ]


def test_dice_diversity_is_one_for_equal_masks_and_zero_for_disjoint():
    same = torch.ones(2, 3, 4, 4)
    torch.testing.assert_close(dice_diversity(same), torch.tensor(1.))
    disjoint = torch.zeros(1, 2, 2, 2)
    disjoint[0, 0, 0], disjoint[0, 1, 1] = 1, 1
    torch.testing.assert_close(dice_diversity(disjoint), torch.tensor(0.))


@pytest.mark.parametrize('iteration,student_masks', [(0, False), (9, False),
                                                     (10, True), (500, True)])
def test_maskd_matches_the_official_loss_around_the_warmup(
        features, at_iteration, iteration, student_masks):
    y_s, y_t = features
    loss = maskd(custom_mask_warmup=10, loss_weight=7.0)
    at_iteration(iteration)
    got = loss_and_grad(lambda: loss(y_s, y_t), y_s)
    ref = loss_and_grad(
        lambda: official_maskd(y_s, y_t, loss.tokens, student_masks, 7.0),
        y_s)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])
    other = loss_and_grad(
        lambda: official_maskd(y_s, y_t, loss.tokens, not student_masks,
                               7.0), y_s)
    assert not torch.allclose(got[0], other[0], rtol=1e-3)


def test_a_resumed_run_keeps_the_student_masks(features, at_iteration):
    """The iteration is mmengine's: a loss built at a resume past the warmup
    (its own count at 0) uses the student's masks on its first call."""
    y_s, y_t = features
    loss = maskd(custom_mask_warmup=10)
    at_iteration(1200)
    torch.testing.assert_close(
        loss(y_s, y_t), official_maskd(y_s, y_t, loss.tokens, True, 1.0))


def test_outside_a_runner_the_loss_counts_its_training_calls(features):
    y_s, y_t = features
    loss = maskd(custom_mask_warmup=2)
    assert fresh_message_hub('no_runner').get_info('iter') is None
    refs = [
        official_maskd(y_s, y_t, loss.tokens, use, 1.0)
        for use in (False, True)
    ]
    got = [loss(y_s, y_t) for _ in range(4)]
    for value, ref in zip(got, [refs[0]] * 2 + [refs[1]] * 2):
        torch.testing.assert_close(value, ref)
    loss.eval()
    loss(y_s, y_t)
    assert loss._calls == 4  # evaluation calls are not training iterations


def test_without_the_probability_head_the_loss_is_the_mean(features):
    y_s, y_t = features
    loss = maskd(weight_mask=False, custom_mask=False)
    mask = official_masks(y_t, loss.tokens.mask_token)
    ref = ((y_s.unsqueeze(1) * mask.unsqueeze(2) - y_t.unsqueeze(1) *
            mask.unsqueeze(2))**2).sum((3, 4))
    ref = (ref / mask.sum((2, 3)).unsqueeze(-1)).mean()
    torch.testing.assert_close(loss(y_s, y_t), ref)


def test_the_tokens_are_frozen_and_the_student_learns(features):
    y_s, y_t = features
    loss = maskd()
    assert not any(p.requires_grad for p in loss.parameters())
    loss(y_s, y_t).backward()
    assert y_s.grad is not None and y_s.grad.abs().sum() > 0


def test_fully_saturated_masks_give_zero_not_nan(features):
    y_s, y_t = features
    loss = maskd(custom_mask=False)
    loss.tokens.mask_token.data.fill_(-1e4)  # sigmoid underflows to 0
    value = loss(y_s, y_t.abs() + 1)
    assert torch.isfinite(value) and value == 0


def test_shape_mismatch_is_a_named_error(features):
    y_s, y_t = features
    with pytest.raises(ValueError, match='preds_S.*shape'):
        maskd()(y_s[:, :4], y_t)


@pytest.mark.parametrize('kwargs,match', [
    (dict(level=-1), '`level` must be an int >= 0'),
    (dict(custom_mask_warmup=1.5), '`custom_mask_warmup` must be an int'),
    (dict(num_tokens=0), '`num_tokens` must be a positive int'),
])
def test_bad_arguments_name_the_key(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MasKDLoss(C, **kwargs)


# ------------------------------------------------------- token checkpoints


def stage1_checkpoint(tmp_path, prefix='', levels=2, channels=C):
    """A stage-1 checkpoint as ReceptiveTokenLearner (prefix '') or the
    official hook under DDP (prefix 'module.') saves it."""
    torch.manual_seed(3)
    state = {'architecture.neck.conv.weight': torch.zeros(1)}
    for level in range(levels):
        tokens = ReceptiveTokens(channels, T)
        for key, value in tokens.state_dict().items():
            state[f'{prefix}mask_modules.{level}.{key}'] = value
    path = tmp_path / 'tokens.pth'
    torch.save(dict(state_dict=state, meta=dict()), path)
    return path, state


@pytest.mark.parametrize('prefix', ['', 'module.'])
def test_tokens_load_strictly_from_stage_1(tmp_path, prefix):
    path, state = stage1_checkpoint(tmp_path, prefix)
    loss = MasKDLoss(C, level=1, num_tokens=T, tokens_ckpt=str(path))
    torch.testing.assert_close(
        loss.tokens.mask_token, state[f'{prefix}mask_modules.1.mask_token'])
    torch.testing.assert_close(
        loss.tokens.prob[2].weight,
        state[f'{prefix}mask_modules.1.prob.2.weight'])


def test_tokens_of_another_shape_or_level_are_named_errors(tmp_path):
    path, _ = stage1_checkpoint(tmp_path)
    with pytest.raises(TokensCheckpointMismatch, match='no tokens for '
                       r'`level`=4.*levels \[.0., .1.\]'):
        MasKDLoss(C, level=4, num_tokens=T, tokens_ckpt=str(path))
    with pytest.raises(TokensCheckpointMismatch,
                       match=r'shape of mask_token: checkpoint \(6, 8\), '
                       r'tokens \(6, 16\)'):
        MasKDLoss(16, level=0, num_tokens=T, tokens_ckpt=str(path))
    with pytest.raises(TokensCheckpointMismatch,
                       match='unexpected in checkpoint: prob.0.weight'):
        MasKDLoss(C, num_tokens=T, weight_mask=False, tokens_ckpt=str(path))
    teacher_only = tmp_path / 'teacher.pth'
    torch.save(dict(state_dict={'backbone.conv1.weight': torch.zeros(1)}),
               teacher_only)
    with pytest.raises(TokensCheckpointMismatch,
                       match="no key containing 'mask_modules'"):
        MasKDLoss(C, tokens_ckpt=str(teacher_only))


# --------------------------------------------- AKD on MasKD, as released


def test_maskd_is_standardised_on_both_sides_by_release():
    assert release_form(maskd()) == 'both'


@pytest.mark.parametrize('iteration,student_masks', [(3, False), (10, True)])
def test_release_uncertainty_reproduces_akd_maskd(features, at_iteration,
                                                  iteration, student_masks):
    """The wrapper with ``uncertainty='release'`` around MasKDLoss computes
    the release's ``AKD_MasKDLoss`` for the same dropout draw."""
    y_s, y_t = features
    loss = MODELS.build(
        dict(
            type='UncertaintyAwareKDLoss',
            base_loss=dict(
                type='MasKDLoss', channels=C, num_tokens=T,
                custom_mask_warmup=10, loss_weight=7.0),
            uncertainty='release'))
    loss.base_loss.tokens.mask_token.data.normal_(0, 0.5)
    torch.manual_seed(5)
    keep = (torch.rand(1, *y_t.shape) > 0.1).float()
    avatars = y_t * keep / 0.9  # F.dropout(y_t, p=0.1, training=True)
    at_iteration(iteration)
    got = loss_and_grad(
        lambda: loss.forward_avatars(
            dict(preds_S=y_s, preds_T=y_t), avatars)[0], y_s)
    ref = loss_and_grad(
        lambda: release_akd_maskd(y_s, avatars[0], loss.base_loss.tokens,
                                  student_masks, 7.0), y_s)
    torch.testing.assert_close(got[0], ref[0])
    torch.testing.assert_close(got[1], ref[1])


def test_akd_dropout_avatars_are_the_release_dropout(features):
    """The default Avatar is ``F.dropout(y_t, p=0.1, training=True)``: kept
    elements scaled by 1 / 0.9, the others 0."""
    _, y_t = features
    loss = MODELS.build(
        dict(
            type='UncertaintyAwareKDLoss',
            base_loss=dict(type='MasKDLoss', channels=C, num_tokens=T),
            uncertainty='release'))
    generator = MODELS.build(dict(type='AvatarGenerator'))
    avatars = generator(y_t, step=0)
    kept = avatars != 0
    torch.testing.assert_close(avatars[kept], (y_t.expand_as(avatars) /
                                               0.9)[kept])
    assert 0.05 < (~kept).float().mean() < 0.15
    assert torch.isfinite(
        loss.forward_avatars(dict(preds_S=y_t, preds_T=y_t), avatars)[0])
