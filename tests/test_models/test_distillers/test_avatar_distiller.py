"""AvatarDistiller on toy networks: its contracts."""
import copy
import functools

import pytest
import torch
from mmrazor.models.distillers import ConfigurableDistiller
from mmrazor.registry import MODELS
from torch import nn

import mmakd  # noqa: F401
from mmakd.models import (AvatarDistiller, AvatarGenerator,
                          UncertaintyAwareKDLoss)


class ToyNet(nn.Module):

    def __init__(self, width: int) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, width, 3, padding=1)
        self.head = nn.Conv2d(width, 8, 1)

    def forward(self, x):
        return self.head(torch.relu(self.stem(x)))


def distiller_cfg(**overrides):
    """Three losses on one teacher record: CWD and MSE wrapped, PKD too."""
    cfg = dict(
        student_recorders=dict(
            feat=dict(type='ModuleOutputs', source='head')),
        teacher_recorders=dict(
            feat=dict(type='ModuleOutputs', source='head')),
        connectors=dict(
            s_conn=dict(
                type='ConvModuleConnector',
                in_channel=8,
                out_channel=8,
                act_cfg=None)),
        distill_losses=dict(
            loss_cwd=dict(type='ChannelWiseDivergence', tau=1.0,
                          loss_weight=2.0),
            loss_mse=dict(type='L2Loss', loss_weight=1.0),
            loss_pkd=dict(type='PKDLoss', loss_weight=1.0)),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(recorder='feat', from_student=True,
                             connector='s_conn'),
                preds_T=dict(recorder='feat', from_student=False)),
            loss_mse=dict(
                s_feature=dict(recorder='feat', from_student=True,
                               connector='s_conn'),
                t_feature=dict(recorder='feat', from_student=False)),
            loss_pkd=dict(
                preds_S=dict(recorder='feat', from_student=True),
                preds_T=dict(recorder='feat', from_student=False))))
    cfg.update(overrides)
    return cfg


IDENTITY = dict(perturbation=dict(type='ElementDropout', p=0.0))


class Setup:
    """A student, a teacher and a distiller wired to them."""

    def __init__(self, distiller_type='AvatarDistiller', seed=0, **cfg):
        torch.manual_seed(seed)
        self.student, self.teacher = ToyNet(4), ToyNet(16)
        for p in self.teacher.parameters():
            p.requires_grad = False
        self.distiller = MODELS.build(
            dict(type=distiller_type, **distiller_cfg(**cfg)))
        self.distiller.prepare_from_student(self.student)
        self.distiller.prepare_from_teacher(self.teacher)
        self.inputs = torch.randn(2, 3, 8, 8)

    def losses(self):
        with self.distiller.teacher_recorders, torch.no_grad():
            self.teacher(self.inputs)
        with self.distiller.student_recorders:
            self.student(self.inputs)
        return self.distiller.compute_distill_losses()

    def teacher_record(self):
        return self.distiller.teacher_recorders.get_recorder(
            'feat').get_record_data()


def only_losses(losses):
    return {k: v for k, v in losses.items() if 'loss' in k}


def test_wraps_every_teacher_reading_loss():
    distiller = Setup().distiller
    for name in ('loss_cwd', 'loss_mse', 'loss_pkd'):
        loss = distiller.distill_losses[name]
        assert isinstance(loss, UncertaintyAwareKDLoss)
        assert loss.uncertainty == 'paper'
    assert distiller.distill_losses['loss_mse'].student_key == 's_feature'


def test_identity_without_uncertainty_equals_configurable_distiller():
    base = Setup('ConfigurableDistiller')
    akd = Setup(avatar_generator=IDENTITY, uncertainty='none')
    akd.distiller.load_state_dict(base.distiller.state_dict(), strict=False)
    base_losses, akd_losses = base.losses(), only_losses(akd.losses())
    assert base_losses.keys() == akd_losses.keys()
    for name in base_losses:
        assert torch.equal(base_losses[name], akd_losses[name]), name


def test_dropout_avatars_change_losses_per_draw_and_repeat_under_seed():
    base = only_losses(
        Setup(avatar_generator=IDENTITY, uncertainty='none').losses())
    akd = Setup(uncertainty='none')
    akd.distiller.manual_seed(123)
    first = only_losses(akd.losses())
    second = only_losses(akd.losses())
    akd.distiller.manual_seed(123)
    repeat = only_losses(akd.losses())
    for name in first:
        assert not torch.equal(first[name], base[name]), name
        assert not torch.equal(first[name], second[name]), name
        assert torch.equal(first[name], repeat[name]), name


@pytest.mark.parametrize('uncertainty', ['paper', 'official', 'none'])
def test_gradients_reach_student_and_connector_not_teacher(uncertainty):
    setup = Setup(uncertainty=uncertainty)
    losses = setup.losses()
    vanilla = setup.teacher_record().clone()
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    for module in (setup.student, setup.distiller.connectors['s_conn']):
        grads = [p.grad for p in module.parameters()]
        assert all(g is not None and torch.isfinite(g).all() for g in grads)
        assert any(g.abs().sum() > 0 for g in grads)
    assert all(p.grad is None for p in setup.teacher.parameters())
    assert torch.equal(setup.teacher_record(), vanilla)


def test_excluded_loss_sees_the_vanilla_teacher():
    setup = Setup(exclude_losses=['loss_mse'])
    assert not isinstance(setup.distiller.distill_losses['loss_mse'],
                          UncertaintyAwareKDLoss)
    losses = setup.losses()
    student = setup.distiller.get_record('feat', True, connector='s_conn')
    expected = MODELS.build(dict(type='L2Loss'))(student,
                                                 setup.teacher_record())
    torch.testing.assert_close(losses['loss_mse'], expected)


def test_avatars_made_once_per_record_and_shared():
    setup = Setup()
    made = []
    setup.distiller.avatar_generator.register_forward_hook(
        lambda module, args, out: made.append(out))
    setup.losses()
    assert len(made) == 1  # three losses, one teacher record


def test_stats_are_logged_but_not_losses():
    losses = Setup(uncertainty='paper').losses()
    stats = {k: v for k, v in losses.items() if 'loss' not in k}
    assert set(stats) == {
        f'akd_{s}.{n}'
        for s in ('sigma', 'spread') for n in ('cwd', 'mse', 'pkd')
    }
    assert all(not v.requires_grad and v.ndim == 0 for v in stats.values())
    assert 'akd_sigma.cwd' not in Setup(uncertainty='none').losses()
    assert len(Setup(log_stats=False).losses()) == 3


def test_partial_generator_config_fills_defaults():
    distiller = Setup(avatar_generator=dict(num_avatars=3)).distiller
    assert distiller.avatar_generator.num_avatars == 3
    assert repr(distiller.avatar_generator.perturbations) == \
        '[ElementDropout(p=0.1)]'


def test_explicit_form_in_both_distillers():
    explicit = dict(
        loss_cwd=dict(
            type='UncertaintyAwareKDLoss',
            uncertainty='official',
            base_loss=dict(type='ChannelWiseDivergence', tau=1.0)),
        loss_mse=dict(type='L2Loss'),
        loss_pkd=dict(type='PKDLoss'))
    akd = Setup(distill_losses=explicit, uncertainty='none')
    assert akd.distiller.distill_losses['loss_cwd'].uncertainty == 'official'
    assert akd.distiller.distill_losses['loss_mse'].uncertainty == 'none'
    assert all(torch.isfinite(v) for v in akd.losses().values())
    # MMRazor's own distiller takes the wrapper too: it checks the mapping
    # against the wrapper's forward signature, which is the base loss's.
    plain = Setup('ConfigurableDistiller', distill_losses=explicit)
    assert torch.isfinite(plain.losses()['loss_cwd'])


def test_explicit_wrapper_keeps_its_own_generator():
    explicit = copy.deepcopy(distiller_cfg()['distill_losses'])
    explicit['loss_cwd'] = dict(
        type='UncertaintyAwareKDLoss',
        base_loss=explicit['loss_cwd'],
        avatar_generator=dict(type='AvatarGenerator', num_avatars=2))
    setup = Setup(distill_losses=explicit)
    calls = []
    own = setup.distiller.distill_losses['loss_cwd'].avatar_generator
    own.register_forward_hook(lambda m, a, out: calls.append(out.shape[0]))
    setup.losses()
    assert calls == [2]


def test_mapping_check_still_rejects_wrong_keys_for_wrapped_losses():
    cfg = distiller_cfg()
    mappings = copy.deepcopy(cfg['loss_forward_mappings'])
    mappings['loss_cwd']['student_feats'] = mappings['loss_cwd'].pop('preds_S')
    explicit = copy.deepcopy(cfg['distill_losses'])
    explicit['loss_cwd'] = dict(
        type='UncertaintyAwareKDLoss', base_loss=explicit['loss_cwd'])
    for distiller in ('AvatarDistiller', 'ConfigurableDistiller'):
        with pytest.raises(AssertionError, match='student_feats is not in the '
                           'signature'):
            Setup(distiller, distill_losses=explicit,
                  loss_forward_mappings=mappings)
    # Auto-wrapped too: MMRazor's own check runs first, on the same inputs.
    with pytest.raises(AssertionError, match='student_feats is not in the '
                       'signature'):
        Setup(loss_forward_mappings=mappings)


def test_unclear_loss_inputs_raise_clear_errors():
    cfg = distiller_cfg()
    mappings = copy.deepcopy(cfg['loss_forward_mappings'])
    mappings['loss_mse']['s_feature']['from_student'] = False
    with pytest.raises(ValueError, match="loss 'loss_mse' reads 2 teacher"):
        Setup(loss_forward_mappings=mappings)
    with pytest.raises(KeyError, match=r"`exclude_losses` names \['loss_x'\]"):
        Setup(exclude_losses=['loss_x'])
    with pytest.raises(ValueError, match='`uncertainty` must be one of'):
        Setup(uncertainty='gaussian')
    with pytest.raises(ValueError, match='`num_avatars` must be an int >= 1'):
        Setup(avatar_generator=dict(num_avatars=0))
    with pytest.raises(ValueError, match='`uncertainty_eps`'):
        Setup(uncertainty_eps=0.0)
    # An unknown loss type: the registry's error, as ConfigurableDistiller.
    with pytest.raises(KeyError, match='NoLoss is not in the mmrazor::model '
                       'registry'):
        Setup(distill_losses=dict(
            loss_cwd=dict(type='NoLoss'), loss_mse=dict(type='L2Loss'),
            loss_pkd=dict(type='PKDLoss')))


def test_wrapper_given_as_a_class_is_recognised():
    explicit = copy.deepcopy(distiller_cfg()['distill_losses'])
    explicit['loss_cwd'] = dict(
        type=UncertaintyAwareKDLoss, base_loss=explicit['loss_cwd'],
        avatar_generator=dict(type='AvatarGenerator', num_avatars=2))
    setup = Setup(distill_losses=explicit)
    wrapped = setup.distiller.distill_losses['loss_cwd']
    assert type(wrapped.base_loss).__name__ == 'ChannelWiseDivergence'
    assert wrapped.avatar_generator.num_avatars == 2  # its own generator
    assert setup.distiller.generator_of('loss_cwd') is \
        wrapped.avatar_generator


def test_auto_wrapped_losses_have_no_generator_of_their_own():
    setup = Setup()
    for name, loss in setup.distiller.distill_losses.items():
        assert loss.avatar_generator is None, name
        assert setup.distiller.generator_of(name) is \
            setup.distiller.avatar_generator
    assert not any(
        isinstance(m, AvatarGenerator)
        for m in setup.distiller.distill_losses.modules())


def test_base_kd_state_dict_loads_into_the_akd_distiller_strictly():
    """Loss parameters saved by base KD (FGD's context blocks) reach the
    wrapped loss, with ``strict=True`` and no key mapping by the caller."""

    def build(distiller_type):
        return MODELS.build(
            dict(
                type=distiller_type,
                student_recorders=dict(
                    fpn=dict(type='ModuleOutputs', source='neck')),
                teacher_recorders=dict(
                    fpn=dict(type='ModuleOutputs', source='neck')),
                distill_losses=dict(
                    loss_fgd=dict(type='MMAKDFGDLoss', in_channels=8)),
                loss_forward_mappings=dict(
                    loss_fgd=dict(
                        preds_S=dict(from_student=True, recorder='fpn'),
                        preds_T=dict(from_student=False, recorder='fpn'),
                        data_samples=dict(from_student=True,
                                          recorder='fpn')))))

    torch.manual_seed(0)
    base = build('ConfigurableDistiller')
    torch.manual_seed(1)
    akd = build('AvatarDistiller')
    base_state = base.state_dict()
    assert 'distill_losses.loss_fgd.conv_mask_s.weight' in base_state
    result = akd.load_state_dict(base_state, strict=True)
    assert result.missing_keys == [] and result.unexpected_keys == []
    wrapped = akd.distill_losses['loss_fgd'].base_loss
    for name, value in base.distill_losses['loss_fgd'].state_dict().items():
        assert torch.equal(wrapped.state_dict()[name], value), name
    # An AKD checkpoint loads as before.
    again = build('AvatarDistiller')
    again.load_state_dict(akd.state_dict(), strict=True)
    assert torch.equal(
        again.distill_losses['loss_fgd'].base_loss.conv_mask_s.weight,
        base_state['distill_losses.loss_fgd.conv_mask_s.weight'])


def test_trainable_teacher_connector_is_an_error_unless_excluded():
    mappings = copy.deepcopy(distiller_cfg()['loss_forward_mappings'])
    mappings['loss_mse']['t_feature']['connector'] = 's_conn'
    with pytest.raises(ValueError, match="loss 'loss_mse' reads the teacher "
                       "record 'feat' through the trainable connector "
                       "'s_conn'"):
        Setup(loss_forward_mappings=mappings)
    setup = Setup(loss_forward_mappings=mappings, exclude_losses=['loss_mse'])
    assert not isinstance(setup.distiller.distill_losses['loss_mse'],
                          UncertaintyAwareKDLoss)


def test_registered_under_mmrazor_scope():
    assert MODELS.get('mmrazor.AvatarDistiller') is AvatarDistiller
    assert issubclass(AvatarDistiller, ConfigurableDistiller)


def test_statistics_keys_never_collide_and_never_hold_loss():
    cfg = distiller_cfg()
    losses, mappings = cfg['distill_losses'], cfg['loss_forward_mappings']
    # 'cwd' and 'loss_cwd' would both log as akd_sigma.cwd without care.
    losses['cwd'], mappings['cwd'] = losses['loss_cwd'], mappings['loss_cwd']
    losses['my_loss'] = losses.pop('loss_pkd')
    mappings['my_loss'] = mappings.pop('loss_pkd')
    stats = [k for k in Setup(**cfg).losses() if k.startswith('akd_')]
    tags = {key.split('.', 1)[1] for key in stats}
    assert tags == {'LOSS_cwd', 'cwd', 'mse', 'my_LOSS'}
    assert not any('loss' in key for key in stats)
    assert len(stats) == 2 * len(tags)  # sigma and spread per loss


def test_statistics_keys_that_cannot_be_told_apart_are_an_error():
    from mmakd.models.distillers.stat_keys import stat_tags
    with pytest.raises(ValueError, match="'loss_a' and 'LOSS_a'"):
        stat_tags(['loss_a', 'LOSS_a', 'a'])


def test_each_generator_draws_a_stream_of_its_own():
    """A loss's own generator and the distiller's, both element dropout on
    the same record, draw different masks in the same step."""
    losses = copy.deepcopy(distiller_cfg()['distill_losses'])
    losses['loss_mse'] = dict(
        type='UncertaintyAwareKDLoss',
        base_loss=losses['loss_mse'],
        avatar_generator=dict())
    setup = Setup(distill_losses=losses)
    masks = {}

    def keep_mask(name, module, args, output):
        masks[name] = output == 0

    for name, gen in (('distiller', setup.distiller.avatar_generator),
                      ('loss_mse', setup.distiller.distill_losses[
                          'loss_mse'].avatar_generator)):
        gen.register_forward_hook(functools.partial(keep_mask, name))
    setup.losses()
    assert masks.keys() == {'distiller', 'loss_mse'}
    assert not torch.equal(masks['distiller'], masks['loss_mse'])
    assert setup.distiller.distill_losses[
        'loss_mse'].avatar_generator.random.stream == \
        'distill_losses.loss_mse.avatar_generator'
