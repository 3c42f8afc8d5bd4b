"""Pairing a teacher's and a student's outputs by stride; the written
distiller's connectors and mappings (fabricated probes: no model built)."""
from typing import Optional

import pytest

from mmakd.config_gen import (ConfigError, ModelProbe, Output, distiller_cfg,
                              pair_outputs)
from mmakd.config_gen.writer import py


def level(index: int, channels: int, stride: int, size: int = 64,
          kind: str = 'neck level', source: str = 'neck',
          record_idx: int = 0) -> Output:
    side = size // stride
    data_idx: Optional[int] = index if kind != 'logits' else None
    return Output(source, kind, record_idx, data_idx,
                  (2, channels, side, side), stride)


def probe(*outputs: Output, task: str = 'det') -> ModelProbe:
    return ModelProbe(task, 'mmdet', (2, 3, 64, 64), list(outputs), False,
                      ['backbone', 'neck'])


def test_levels_pair_by_stride_and_the_others_are_dropped_with_a_note():
    teacher = probe(*(level(i, 256, 8 * 2**i) for i in range(5)))
    student = probe(*(level(i, 96, 4 * 2**i) for i in range(4)))
    pairs, notes = pair_outputs(teacher, student, 'neck')
    assert [(p.teacher.data_idx, p.student.data_idx) for p in pairs] == [
        (0, 1), (1, 2), (2, 3)
    ]
    assert any('teacher neck[3] (stride 64)' in n for n in notes)
    assert any('student neck[0] (stride 4)' in n for n in notes)


def test_different_channels_get_a_student_side_connector():
    teacher = probe(level(0, 256, 8), level(1, 256, 16))
    student = probe(level(0, 96, 8), level(1, 96, 16))
    pairs, _ = pair_outputs(teacher, student, 'neck')
    cfg = distiller_cfg(pairs, 'cwd', 'neck', False)
    assert cfg['connectors'] == {
        f's_fpn{i}': dict(
            type='ConvModuleConnector', in_channel=96, out_channel=256,
            kernel_size=1, act_cfg=None)
        for i in range(2)
    }
    mapping = cfg['loss_forward_mappings']['loss_cwd_fpn1']
    assert mapping['preds_S'] == dict(
        from_student=True, recorder='fpn', data_idx=1, connector='s_fpn1')
    assert mapping['preds_T'] == dict(
        from_student=False, recorder='fpn', data_idx=1)
    assert cfg['distill_losses']['loss_cwd_fpn0'] == dict(
        type='ChannelWiseDivergence', tau=1, loss_weight=10)


def test_mgd_always_gets_its_generation_block_and_fgd_its_ground_truth():
    teacher = probe(level(0, 64, 8))
    student = probe(level(0, 64, 8))
    pairs, _ = pair_outputs(teacher, student, 'neck')
    mgd = distiller_cfg(pairs, 'mgd', 'neck', False, loss_weight=3e-5)
    assert mgd['connectors']['s_fpn0']['type'] == 'MGDConnector'
    assert mgd['distill_losses']['loss_mgd_fpn0'] == dict(
        type='MGDLoss', alpha_mgd=3e-5)
    fgd = distiller_cfg(pairs, 'fgd', 'neck', True)
    assert fgd['student_recorders']['gt']['type'] == 'MethodInputs'
    assert fgd['loss_forward_mappings']['loss_fgd_fpn0']['data_samples'] == \
        dict(from_student=True, recorder='gt', data_idx=1)
    assert fgd['distill_losses']['loss_fgd_fpn0']['alpha_fgd'] == 0.00005
    assert 'connectors' not in fgd


def test_strides_that_cannot_be_paired_are_a_named_error_with_both_tables():
    teacher = probe(level(0, 64, 8))
    student = probe(level(0, 64, 4))
    with pytest.raises(ConfigError) as err:
        pair_outputs(teacher, student, 'neck')
    message = str(err.value)
    assert 'no teacher and student outputs of the same stride' in message
    assert message.count('| output | kind |') == 2
    assert 'teacher:' in message and 'student:' in message


def test_class_logits_of_different_counts_are_refused():
    teacher = probe(level(0, 720, 8, kind='logits', source='bbox_head.cls'))
    student = probe(level(0, 80, 8, kind='logits', source='bbox_head.cls'))
    with pytest.raises(ConfigError, match='720 class logits'):
        pair_outputs(teacher, student, 'logits')


def test_logits_of_a_shared_head_conv_pair_call_by_call():
    teacher = probe(*(level(i, 90, 8 * 2**i, kind='logits',
                            source='bbox_head.retina_cls', record_idx=i)
                      for i in range(3)))
    pairs, _ = pair_outputs(teacher, teacher, 'logits')
    cfg = distiller_cfg(pairs, 'cwd', 'logits', False)
    assert sorted(cfg['distill_losses']) == [
        f'loss_cwd_logits{i}' for i in range(3)
    ]
    assert cfg['loss_forward_mappings']['loss_cwd_logits2']['preds_T'] == \
        dict(from_student=False, recorder='logits', record_idx=2)
    assert cfg['distill_losses']['loss_cwd_logits0']['loss_weight'] == 5


def test_nothing_at_where_on_one_side_is_a_named_error():
    teacher = probe(level(0, 64, 8))
    student = probe(level(0, 64, 8, kind='backbone stage',
                          source='backbone'))
    with pytest.raises(ConfigError, match='the student has no such output'):
        pair_outputs(teacher, student, 'neck')


def test_written_dicts_are_python_that_evaluates_back():
    value = dict(a=1, b=[1, 2], c=dict(d='x', e=2e-5), f={'not-id': 3})
    assert eval(py(value)) == value


def test_logits_of_one_conv_a_level_get_a_recorder_each():
    """RTMDet's head has one class conv per level (rtm_cls.<i>)."""
    outs = [
        level(i, 80, 8 * 2**i, kind='logits', source=f'bbox_head.rtm_cls.{i}')
        for i in range(3)
    ]
    pairs, _ = pair_outputs(probe(*outs), probe(*outs), 'logits')
    cfg = distiller_cfg(pairs, 'cwd', 'logits', False)
    assert cfg['teacher_recorders'] == {
        f'logits{i}': dict(
            type='ModuleOutputs', source=f'bbox_head.rtm_cls.{i}')
        for i in range(3)
    }
    assert cfg['loss_forward_mappings']['loss_cwd_logits2']['preds_S'][
        'recorder'] == 'logits2'


def logits(stride: int, size: int = 64, contiguous: bool = True) -> Output:
    side = size // stride
    return Output('decode_head.conv_seg', 'logits', 0, None,
                  (2, 19, side, side), stride, contiguous)


@pytest.mark.parametrize('t_stride, s_stride, side', [(4, 8, 'student'),
                                                      (8, 4, 'teacher')])
def test_logits_across_strides_upsample_the_coarser(
        t_stride, s_stride, side):
    """UperNet (stride 4) and PSPNet (stride 8): resized, not refused."""
    pairs, notes = pair_outputs(
        probe(logits(t_stride), task='seg'),
        probe(logits(s_stride), task='seg'), 'logits')
    assert notes == [] and [p.resize for p in pairs] == [(side, 2)]
    cfg = distiller_cfg(pairs, 'cwd', 'logits', False)
    name = f'{side[0]}_logits'
    assert cfg['connectors'] == {
        name: dict(
            type='ContiguousConnector',
            connectors=[
                dict(type='TorchFunctionalConnector',
                     function_name='interpolate',
                     func_args=dict(scale_factor=2, mode='bilinear',
                                    align_corners=False))
            ])
    }
    mapping = cfg['loss_forward_mappings']['loss_cwd']
    key = 'preds_S' if side == 'student' else 'preds_T'
    assert mapping[key]['connector'] == name
    assert 'connector' not in mapping['preds_T' if key == 'preds_S' else
                                      'preds_S']


def test_strides_of_no_integer_ratio_or_sizes_off_the_ratio_are_refused():
    with pytest.raises(ConfigError, match='no teacher and student outputs '
                       'of the same stride'):
        pair_outputs(probe(logits(8, 96)), probe(logits(12, 96)), 'logits')
    odd = Output('decode_head.conv_seg', 'logits', 0, None, (2, 19, 9, 9), 8)
    with pytest.raises(ConfigError, match=r'which x2 is not the \(16, 16\)'):
        pair_outputs(probe(logits(4)), probe(odd), 'logits')


def test_non_contiguous_outputs_get_a_contiguous_connector():
    """SegFormer's logits on the CPU: the loss gets them contiguous, after
    the student's channel connector where there is one."""
    teacher = probe(level(0, 256, 8))
    student = Output('neck', 'neck level', 0, 0, (2, 96, 8, 8), 8, False)
    pairs, _ = pair_outputs(teacher, probe(student), 'neck')
    cfg = distiller_cfg(pairs, 'cwd', 'neck', False)
    assert cfg['connectors'] == {
        's_fpn0': dict(
            type='ContiguousConnector',
            connectors=[
                dict(type='ConvModuleConnector', in_channel=96,
                     out_channel=256, kernel_size=1, act_cfg=None)
            ])
    }
    pairs, _ = pair_outputs(probe(logits(4, contiguous=False)),
                            probe(logits(4)), 'logits')
    cfg = distiller_cfg(pairs, 'cwd', 'logits', False)
    assert cfg['connectors'] == {
        't_logits': dict(type='ContiguousConnector', connectors=[])
    }
