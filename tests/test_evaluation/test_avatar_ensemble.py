"""mmakd.evaluation.avatar_ensemble: Avatar members, the averaging of head
outputs per head type, the refusals.

Bit for bit (``torch.equal``) is asserted where the computation is the
same: an Avatar at strength 0 is the teacher's feature (the identity
perturbation, copied), so the rest of the forward repeats the teacher's
operations on equal inputs; an ensemble of N copies of one model is the
model because the running mean ``m + (x - m) / k`` adds exactly 0 when
every member gives the same outputs.
"""
import copy
import os.path as osp
from typing import Dict, List, Tuple

import pytest
import torch
from helpers import REPO_ROOT
from mmengine.registry import DefaultScope
from torch import nn

from mmakd.evaluation import (EvalAvatarsError, Member, RunningMean,
                              UnsupportedModel, avatar_members,
                              build_generator, build_teacher, candidate_points,
                              distilled_points, ensemble_predict,
                              load_teacher_weights, perturbation_cfg, task_of,
                              teacher_state)
from mmakd.models.avatars import AvatarGenerator
from mmakd.utils import load_config

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')
AKD_DET = osp.join(DIGITS, 'akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                   'digit-scenes.py')
AKD_SEG = osp.join(DIGITS, 'akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_'
                   '1500i_digit-scenes.py')

#: Every detection: no score threshold, at most 20 boxes per image.
DET_TEST_CFG = dict(nms_pre=200, min_bbox_size=0, score_thr=0.0,
                    nms=dict(type='nms', iou_threshold=0.5), max_per_img=20)
_STRIDES = [4, 8, 16]
_ANCHORS = dict(type='AnchorGenerator', ratios=[1.0], octave_base_scale=4,
                scales_per_octave=1, strides=_STRIDES)
_SMALL = dict(num_classes=10, in_channels=64, stacked_convs=1,
              feat_channels=32)
#: (detector type, head) of each supported head, on the Digit Scenes
#: teacher's backbone and FPN (64 channels, strides 4, 8, 16).
HEADS = {
    'RetinaHead': ('RetinaNet', None),  # the config's own
    'FCOSHead': ('FCOS', dict(type='FCOSHead', strides=_STRIDES,
                              norm_on_bbox=True, centerness_on_reg=True,
                              **_SMALL)),
    'GFLHead': ('GFL', dict(
        type='GFLHead', anchor_generator=_ANCHORS,
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0),
        loss_bbox=dict(type='GIoULoss'), **_SMALL)),
    'ATSSHead': ('ATSS', dict(
        type='ATSSHead', anchor_generator=_ANCHORS,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0] * 4,
                        target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True), **_SMALL)),
    'RTMDetHead': ('RTMDet', dict(
        type='RTMDetSepBNHead',
        anchor_generator=dict(type='MlvlPointGenerator', offset=0,
                              strides=_STRIDES),
        bbox_coder=dict(type='DistancePointBBoxCoder'),
        loss_cls=dict(type='QualityFocalLoss', use_sigmoid=True, beta=2.0),
        loss_bbox=dict(type='GIoULoss'), with_objectness=False,
        pred_kernel_size=1, **_SMALL)),
    'YOLOXHead': ('YOLOX', dict(type='YOLOXHead', strides=_STRIDES,
                                **_SMALL)),
}


def _det_cfg(head: str):
    cfg = load_config(AKD_DET)
    detector, head_cfg = HEADS[head]
    cfg.model.teacher.type = detector
    cfg.model.teacher.test_cfg = copy.deepcopy(DET_TEST_CFG)
    if head_cfg is not None:
        cfg.model.teacher.bbox_head = copy.deepcopy(head_cfg)
        cfg.model.teacher.train_cfg = None
    if detector == 'RTMDet':
        cfg.model.teacher.use_syncbn = False
    return cfg


def _weights(model: nn.Module, seed: int) -> nn.Module:
    """Random weights of a fixed seed, every parameter away from 0 (the
    heads' biases start at constants; BatchNorm at identity)."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for value in model.state_dict().values():
            if value.is_floating_point():
                value.copy_(torch.randn(value.shape, generator=generator) *
                            0.1 + (0.5 if value.dim() == 1 else 0))
    return model


def _batch(model: nn.Module, task: str, num: int = 2,
           size: int = 64) -> Tuple[torch.Tensor, List]:
    """A preprocessed batch of ``num`` random images with their samples."""
    from mmdet.structures import DetDataSample
    from mmseg.structures import SegDataSample
    generator = torch.Generator().manual_seed(0)
    sample_cls = DetDataSample if task == 'det' else SegDataSample
    data = dict(inputs=[], data_samples=[])
    for i in range(num):
        data['inputs'].append(
            torch.randint(0, 256, (3, size, size), generator=generator,
                          dtype=torch.uint8))
        meta = dict(img_shape=(size, size), ori_shape=(size, size),
                    scale_factor=(1.0, 1.0), img_id=i,
                    pad_shape=(size, size), padding_size=[0, 0, 0, 0])
        data['data_samples'].append(sample_cls(metainfo=meta))
    batch = model.data_preprocessor(data, False)
    return batch['inputs'], batch['data_samples']


def _det(head: str = 'RetinaHead', seed: int = 0):
    cfg = _det_cfg(head)
    teacher, _ = build_teacher(cfg)
    return cfg, _weights(teacher, seed)


def _seg(seed: int = 0, slide: bool = False):
    cfg = load_config(AKD_SEG)
    if slide:
        cfg.model.teacher.test_cfg = dict(mode='slide', crop_size=(48, 48),
                                          stride=(16, 16))
    teacher, _ = build_teacher(cfg)
    return cfg, _weights(teacher, seed)


def _predictions(samples: List, task: str) -> List[Dict[str, torch.Tensor]]:
    if task == 'det':
        return [
            dict(bboxes=s.pred_instances.bboxes,
                 scores=s.pred_instances.scores,
                 labels=s.pred_instances.labels) for s in samples
        ]
    return [
        dict(logits=s.seg_logits.data, labels=s.pred_sem_seg.data)
        for s in samples
    ]


def _equal(a: List[Dict], b: List[Dict]) -> bool:
    return all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        for x, y in zip(a, b)) and len(a) == len(b)


def _predict(members, inputs, samples, task, step=0):
    with torch.no_grad():
        return _predictions(
            ensemble_predict(members, inputs, copy.deepcopy(samples), step),
            task)


def _own_predict(model, inputs, samples, task):
    """The model's own predict, as mmdet's and mmseg's test_step run it."""
    with torch.no_grad():
        return _predictions(model.predict(inputs, copy.deepcopy(samples)),
                            task)


def _generator(strength=None, perturbation=None) -> AvatarGenerator:
    return build_generator(None, perturbation, strength)


CASES = [('det', head) for head in HEADS]
CASES += [('seg', 'whole'), ('seg', 'slide')]


def _model(task: str, kind: str, seed: int = 0):
    if task == 'det':
        return _det(kind, seed)
    return _seg(seed, slide=kind == 'slide')


@pytest.mark.parametrize('task,kind', CASES)
def test_one_member_and_strength_zero_are_the_teacher_bit_for_bit(
        task, kind):
    cfg, teacher = _model(task, kind)
    assert task_of(teacher) == task
    inputs, samples = _batch(teacher, task)
    own = _own_predict(teacher, inputs, samples, task)
    if task == 'det':  # predictions to compare (no score threshold)
        assert all(len(p['scores']) >= 20 for p in own)
    # One member without Avatars: the model's own predict.
    assert _equal(_predict([Member(teacher)], inputs, samples, task), own)
    points = distilled_points(teacher,
                              cfg.model.distiller.teacher_recorders)
    # Strength 0: each Avatar is the teacher's feature; one or several.
    for num in (1, 3):
        members = avatar_members(teacher, points, _generator(0.0), num)
        assert _equal(_predict(members, inputs, samples, task), own)
    # Any other strength changes the predictions.
    members = avatar_members(teacher, points, _generator(0.5), 1)
    assert not _equal(_predict(members, inputs, samples, task), own)


@pytest.mark.parametrize('task,kind', CASES)
def test_an_ensemble_of_copies_of_one_model_is_that_model_bit_for_bit(
        task, kind, tmp_path):
    cfg, teacher = _model(task, kind)
    inputs, samples = _batch(teacher, task)
    own = _own_predict(teacher, inputs, samples, task)
    # The same module three times, and separately built copies of it
    # loaded from its checkpoint.
    assert _equal(_predict([Member(teacher)] * 3, inputs, samples, task),
                  own)
    ckpt = str(tmp_path / 'teacher.pth')
    torch.save(dict(state_dict=teacher.state_dict()), ckpt)
    copies = []
    for _ in range(2):
        other, _ = build_teacher(cfg)
        assert load_teacher_weights(other, ckpt) == 'teacher'
        copies.append(Member(other))
    assert _equal(
        _predict([Member(teacher)] + copies, inputs, samples, task), own)
    # Four copies of one Avatar (Avatar 0 of one seed: the same draw each):
    # that Avatar.
    points = distilled_points(teacher,
                              cfg.model.distiller.teacher_recorders)
    copies = [
        avatar_members(teacher, points, _generator(0.3), 1, seed=3)[0]
        for _ in range(5)
    ]
    assert _equal(_predict(copies[1:], inputs, samples, task),
                  _predict(copies[:1], inputs, samples, task))


def _head_outputs(member: Member, inputs, step=0):
    with torch.no_grad(), member.drawn(step):
        return member.model.bbox_head(member.model.extract_feat(inputs))


def _flat(outputs) -> List[torch.Tensor]:
    if isinstance(outputs, torch.Tensor):
        return [outputs]
    return [t for level in outputs for t in _flat(level)]


@pytest.mark.parametrize('head,count', [('RetinaHead', 2), ('FCOSHead', 3),
                                        ('GFLHead', 2), ('ATSSHead', 3),
                                        ('RTMDetHead', 2), ('YOLOXHead', 3)])
def test_det_ensemble_averages_every_head_output_then_decodes(head, count):
    """Scores, boxes and centerness/objectness per level: the mean of the
    members', decoded by the head's own predict_by_feat."""
    cfg, teacher = _det(head)
    _, other = _det(head, seed=1)
    inputs, samples = _batch(teacher, 'det')
    points = distilled_points(teacher,
                              cfg.model.distiller.teacher_recorders)

    def members():  # fresh ones: a member's draws go on within a step
        return avatar_members(teacher, points, _generator(0.2), 3) + [
            Member(other)
        ]

    outputs = [_head_outputs(m, inputs) for m in members()]
    assert len(outputs[0]) == count  # the tuple the head's forward returns
    mean = tuple(
        type(output)(
            torch.stack([o[i][level] for o in outputs]).mean(0)
            for level in range(len(output)))
        for i, output in enumerate(outputs[0]))
    with torch.no_grad():
        decoded = teacher.bbox_head.predict_by_feat(
            *mean, batch_img_metas=[s.metainfo for s in samples],
            rescale=True)
    predicted = _predict(members(), inputs, samples, 'det')
    for got, want in zip(predicted, decoded):
        torch.testing.assert_close(got['bboxes'], want.bboxes, atol=1e-4,
                                   rtol=1e-5)
        torch.testing.assert_close(got['scores'], want.scores, atol=1e-6,
                                   rtol=1e-5)
        assert torch.equal(got['labels'], want.labels)
    # Each Avatar is drawn anew: distinct outputs per member.
    assert not torch.equal(_flat(outputs[0])[0], _flat(outputs[1])[0])


@pytest.mark.parametrize('slide', [False, True])
def test_seg_ensemble_averages_the_logits_then_postprocesses(slide):
    cfg, teacher = _seg(slide=slide)
    _, other = _seg(seed=1, slide=slide)
    inputs, samples = _batch(teacher, 'seg')
    points = distilled_points(teacher,
                              cfg.model.distiller.teacher_recorders)

    def members():  # fresh ones: a member's draws go on within a step
        return avatar_members(teacher, points, _generator(0.2), 2) + [
            Member(other)
        ]

    # Each member alone, through the segmentor's own inference.
    alone = [
        torch.stack([p['logits'] for p in
                     _predict([m], inputs, samples, 'seg')])
        for m in members()
    ]
    together = _predict(members(), inputs, samples, 'seg')
    logits = torch.stack([p['logits'] for p in together])
    # Bilinear resizing and the sliding window's stitching are linear.
    torch.testing.assert_close(logits, torch.stack(alone).mean(0),
                               atol=1e-5, rtol=1e-5)
    for p in together:  # the segmentor's own postprocessing
        assert torch.equal(p['labels'], p['logits'].argmax(0, keepdim=True))
    assert not torch.equal(alone[0], alone[1])


def test_an_avatar_is_the_generators_draw_seeded_per_member_and_batch():
    cfg, teacher = _det()
    inputs, _ = _batch(teacher, 'det')
    points = distilled_points(teacher,
                              cfg.model.distiller.teacher_recorders)
    generator = _generator(0.3)
    with torch.no_grad():
        features = teacher.extract_feat(inputs)
    members = avatar_members(teacher, points, generator, 3, seed=7)
    drawn = {}
    for member in members:
        for step in (0, 1):
            torch.manual_seed(step)  # torch's global stream plays no part
            with torch.no_grad(), member.drawn(step):
                drawn[member.index, step] = teacher.extract_feat(inputs)
            # AvatarGenerator's own draw: stream eval_avatars/fpn/<i>,
            # --seed as the run's seed, the batch as the step.
            own = copy.deepcopy(generator)
            own.random.stream = f'eval_avatars/fpn/{member.index}'
            expected = own.manual_seed(7)(features, step=step)
            for level, avatar in zip(drawn[member.index, step], expected):
                assert torch.equal(level, avatar[0])
    # Distinct draws per member and per batch; the same member of a larger
    # ensemble draws the same.
    assert not torch.equal(drawn[0, 0][0], drawn[1, 0][0])
    assert not torch.equal(drawn[0, 0][0], drawn[0, 1][0])
    (first, ) = avatar_members(teacher, points, generator, 1, seed=7)
    with torch.no_grad(), first.drawn(0):
        assert torch.equal(teacher.extract_feat(inputs)[0], drawn[0, 0][0])
    # Outside the context no hook is left.
    with torch.no_grad():
        assert all(
            torch.equal(a, b)
            for a, b in zip(teacher.extract_feat(inputs), features))


def test_a_point_inside_the_head_is_perturbed_at_each_call():
    """A module run once per level draws a new Avatar at each call."""
    cfg, teacher = _det('FCOSHead')
    inputs, samples = _batch(teacher, 'det')
    points = distilled_points(
        teacher, dict(cls=dict(type='ModuleOutputs',
                               source='bbox_head.conv_cls')))
    (member, ) = avatar_members(teacher, points, _generator(0.0), 1)
    assert _equal(_predict([member], inputs, samples, 'det'),
                  _own_predict(teacher, inputs, samples, 'det'))
    (member, ) = avatar_members(teacher, points, _generator(0.5), 1)
    scores = [s for s in _head_outputs(member, inputs)[0]]
    plain = [s for s in _head_outputs(Member(teacher), inputs)[0]]
    assert len(scores) == 3
    # Dropout at p = 0.5 zeroes about half of each level's scores' inputs.
    assert all(not torch.equal(a, b) for a, b in zip(scores, plain))
    # Only the scores: the box branch is the teacher's.
    assert all(
        torch.equal(a, b) for a, b in zip(
            _head_outputs(member, inputs)[1],
            _head_outputs(Member(teacher), inputs)[1]))


def test_running_mean():
    mean = RunningMean()
    x = (torch.tensor([1.0, 3.0]), [torch.tensor([[2.0]]), None])
    for _ in range(5):
        mean.add(x)
    assert torch.equal(mean.value[0], x[0]) and mean.value[1][1] is None
    values = torch.randn(7, 3, 4, generator=torch.Generator().manual_seed(0))
    mean = RunningMean()
    for value in values:
        mean.add(value)
    torch.testing.assert_close(mean.value, values.mean(0))
    with pytest.raises(ValueError, match='outputs of one shape'):
        mean.add(torch.zeros(2))
    with pytest.raises(ValueError, match='outputs of one structure'):
        RunningMean().add([torch.zeros(1)]).add([torch.zeros(1)] * 2)


def test_unsupported_models_are_refused_by_their_head():
    cfg = load_config(AKD_DET)
    cfg.model.teacher.bbox_head = dict(
        type='FoveaHead', num_classes=10, in_channels=64, stacked_convs=1,
        feat_channels=32, strides=_STRIDES, base_edge_list=[8, 16, 32],
        scale_ranges=((1, 16), (8, 32), (16, 64)))
    teacher, _ = build_teacher(cfg)
    with pytest.raises(UnsupportedModel) as error:
        task_of(teacher)
    message = str(error.value)
    assert 'the teacher RetinaNet has the head FoveaHead, which is not ' \
        'supported' in message
    for name in ('RetinaHead', 'FCOSHead', 'GFLHead', 'ATSSHead',
                 'RTMDetHead', 'YOLOXHead', 'EncoderDecoder'):
        assert name in message
    with pytest.raises(UnsupportedModel, match='has the head no head'):
        task_of(nn.Linear(1, 1))
    # A supported head outside a single-stage detector.
    _, retinanet = _det()
    wrapper = nn.Module()
    wrapper.bbox_head = retinanet.bbox_head
    with pytest.raises(UnsupportedModel, match=r'the teacher Module has the '
                       r'head RetinaHead, which is not supported \(Module '
                       r'is no mmdet SingleStageDetector\)'):
        task_of(wrapper)


def test_distilled_points_and_their_errors():
    cfg, teacher = _det()
    recorders = dict(cfg.model.distiller.teacher_recorders)
    assert distilled_points(teacher, recorders) == {'fpn': 'neck'}
    assert candidate_points(teacher)[:4] == [
        'backbone.layer1', 'backbone.layer2', 'backbone.layer3', 'neck']
    assert 'neck.fpn_convs.0.conv' in candidate_points(teacher)
    with pytest.raises(EvalAvatarsError) as error:
        distilled_points(teacher, {})
    assert '`model.distiller.teacher_recorders` must name the distilled ' \
        'points' in str(error.value)
    assert "'neck.fpn_convs.0.conv'" in str(error.value)
    with pytest.raises(EvalAvatarsError, match=r"`--points` must be "
                       r"teacher recorders of the config's distiller "
                       r"\['fpn'\], but got \['neck'\]"):
        distilled_points(teacher, recorders, ['neck'])
    method = dict(recorders, gt=dict(type='MethodOutputs',
                                     source='mmdet.models.RetinaHead.loss'))
    assert distilled_points(teacher, method) == {'fpn': 'neck'}
    with pytest.raises(EvalAvatarsError, match=r"must be recorders of "
                       r"module outputs .*but got \['gt'\]"):
        distilled_points(teacher, method, ['gt'])
    # Two recorders of one module: its output is perturbed once.
    twice = dict(recorders, again=dict(type='ModuleOutputs', source='neck'))
    assert distilled_points(teacher, twice) == {'fpn': 'neck'}
    with pytest.raises(EvalAvatarsError, match="its source is 'necks'"):
        distilled_points(teacher, dict(fpn=dict(type='ModuleOutputs',
                                                source='necks')))


def test_a_point_that_inference_does_not_run_is_an_error():
    cfg, teacher = _det()
    inputs, samples = _batch(teacher, 'det')
    points = distilled_points(
        teacher, dict(loss=dict(type='ModuleOutputs',
                                source='bbox_head.loss_cls')))
    members = avatar_members(teacher, points, _generator(0.1), 1)
    with pytest.raises(EvalAvatarsError, match=r"\['loss'\] \(modules "
                       r"\['bbox_head.loss_cls'\]\) were not called"):
        _predict(members, inputs, samples, 'det')


def test_the_generator_from_the_config_and_the_options():
    generator = build_generator(None)
    assert generator.num_avatars == 1
    assert perturbation_cfg(generator) == [dict(type='ElementDropout',
                                                p=0.1)]
    configured = dict(num_avatars=4,
                      perturbation=dict(type='ChannelDropout', p=0.3))
    assert perturbation_cfg(build_generator(configured)) == [
        dict(type='ChannelDropout', p=0.3)]
    assert perturbation_cfg(build_generator(configured, strength=0.2)) == [
        dict(type='ChannelDropout', p=0.2)]
    assert perturbation_cfg(
        build_generator(configured, 'GaussianNoise', 0.5)) == [
            dict(type='GaussianNoise', std=0.5, mode='multiplicative')]
    with pytest.raises(EvalAvatarsError, match=r"`--perturbation` must be "
                       r"one of \['ChannelDropout', .*but got 'Dropout'"):
        build_generator(None, 'Dropout')
    with pytest.raises(EvalAvatarsError, match=r"`--strength`: "
                       r"ElementDropout: `p` must be in \[0, 1\), but got "
                       r"1.5"):
        build_generator(None, strength=1.5)
    several = dict(perturbation=[dict(type='ElementDropout'),
                                 dict(type='GaussianNoise')])
    with pytest.raises(EvalAvatarsError, match='give --perturbation too'):
        build_generator(several, strength=0.1)
    with pytest.raises(EvalAvatarsError, match='`--num-avatars` must be '
                       r'ints >= 1, but got 0'):
        avatar_members(nn.Linear(1, 1), {}, generator, 0)


def test_checkpoints_teacher_or_distillation_strictly(tmp_path):
    cfg, teacher = _det(seed=1)
    state = teacher.state_dict()
    distill = str(tmp_path / 'distill.pth')
    torch.save(dict(state_dict={
        **{f'teacher.{k}': v for k, v in state.items()},
        'architecture.backbone.conv1.weight': torch.zeros(1)
    }), distill)
    loaded, _ = build_teacher(cfg)
    assert load_teacher_weights(loaded, distill) == 'distillation'
    assert all(torch.equal(v, loaded.state_dict()[k])
               for k, v in state.items())
    assert teacher_state(torch.load(distill))[1] == 'distillation'
    # Another architecture's: refused, the teacher untouched.
    _, seg = _seg()
    other = str(tmp_path / 'pspnet.pth')
    torch.save(dict(state_dict=seg.state_dict()), other)
    fresh, _ = build_teacher(cfg)
    before = copy.deepcopy(fresh.state_dict())
    with pytest.raises(EvalAvatarsError) as error:
        load_teacher_weights(fresh, other, '--teacher-ckpts')
    assert "`--teacher-ckpts` must be a checkpoint of the config's teacher " \
        f"(RetinaNet), but {other!r} does not fit it (read as a teacher " \
        'checkpoint' in str(error.value)
    assert 'missing in checkpoint: neck.' in str(error.value)
    assert all(torch.equal(v, fresh.state_dict()[k])
               for k, v in before.items())
    with pytest.raises(EvalAvatarsError, match='does not exist'):
        load_teacher_weights(fresh, str(tmp_path / 'missing.pth'))
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(EvalAvatarsError, match='cannot be read'):
        load_teacher_weights(fresh, str(empty))


def test_build_teacher_needs_a_teacher():
    cfg = load_config(osp.join(DIGITS,
                               'retinanet_r18-w8_fpn_1500i_digit-scenes.py'))
    with pytest.raises(EvalAvatarsError, match=r"its model \('RetinaNet'\) "
                       'has no `teacher`'):
        build_teacher(cfg)
    with DefaultScope.overwrite_default_scope('mmrazor'):
        teacher, scope = build_teacher(load_config(AKD_SEG))
    assert scope == 'mmseg' and not teacher.training
