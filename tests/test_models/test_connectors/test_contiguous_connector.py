"""ContiguousConnector: non-contiguous records reach MMRazor's losses."""
import pytest
import torch
from helpers import CWD
from mmrazor.registry import MODELS

from mmakd.models import ContiguousConnector


def channels_last(*shape: int) -> torch.Tensor:
    """A (N, C, H, W) tensor in channels-last strides, as SegFormer's
    ``decode_head.conv_seg`` gives its logits on CPU."""
    feature = torch.randn(*shape).to(memory_format=torch.channels_last)
    assert not feature.is_contiguous()
    return feature


def test_it_is_registered_and_has_no_parameters():
    connector = MODELS.build(dict(type='ContiguousConnector'))
    assert isinstance(connector, ContiguousConnector)
    assert list(connector.parameters()) == []
    assert list(connector.buffers()) == []


def test_the_output_is_contiguous_with_the_same_values_and_gradient():
    feature = channels_last(2, 19, 8, 16).requires_grad_()
    out = ContiguousConnector()(feature)
    assert out.is_contiguous()
    assert out.shape == feature.shape
    assert torch.equal(out, feature)
    out.sum().backward()
    assert torch.equal(feature.grad, torch.ones_like(feature))


def test_a_contiguous_input_is_returned_without_a_copy():
    feature = torch.randn(2, 3, 4, 5)
    assert ContiguousConnector()(feature) is feature


def test_channel_wise_divergence_needs_it_on_non_contiguous_logits():
    student, teacher = channels_last(2, 19, 8, 16), channels_last(2, 19, 8, 16)
    cwd = MODELS.build(CWD)
    with pytest.raises(RuntimeError, match='view size is not compatible'):
        cwd(student, teacher)
    connector = ContiguousConnector()
    loss = cwd(connector(student), connector(teacher))
    expected = cwd(student.contiguous(), teacher.contiguous())
    assert torch.isfinite(loss) and torch.equal(loss, expected)


def test_inner_connectors_run_first_and_the_result_is_contiguous():
    """A channel conv and an interpolation of channels-last logits, as the
    recipe generator writes them for logits of different strides."""
    connector = MODELS.build(
        dict(
            type='ContiguousConnector',
            connectors=[
                dict(type='ConvModuleConnector', in_channel=19,
                     out_channel=21, kernel_size=1, act_cfg=None),
                dict(type='TorchFunctionalConnector',
                     function_name='interpolate',
                     func_args=dict(scale_factor=2, mode='bilinear',
                                    align_corners=False))
            ]))
    feature = channels_last(2, 19, 8, 16).requires_grad_()
    out = connector(feature)
    assert out.shape == (2, 21, 16, 32) and out.is_contiguous()
    conv, resize = connector.connectors
    expected = torch.nn.functional.interpolate(
        conv(feature), scale_factor=2, mode='bilinear', align_corners=False)
    assert torch.allclose(out, expected)
    out.sum().backward()
    assert feature.grad is not None
    assert len(list(connector.parameters())) == len(list(conv.parameters()))


def test_connectors_must_be_a_list_of_configs():
    with pytest.raises(TypeError, match='`connectors` must be a list of '
                       'connector configs'):
        ContiguousConnector(connectors=dict(type='ConvModuleConnector'))
