# CWD on the logits: SegFormer MiT-B5 -> SegFormer MiT-B0, Cityscapes
# 1024x1024, 160k.
#
# MMRazor's CWD logits settings for PSPNet (tau 1, loss weight 5;
# configs/_base_/distillers/cwd_logits.py) on this pair, with the student's
# own data, crops and schedule (mmseg's SegFormer recipe: AdamW, 8 GPUs x 1
# crop of 1024x1024, 160k). Both SegformerHeads give 19-class logits at 1/4
# resolution. SegFormer's `decode_head.conv_seg` gives them in
# non-contiguous (channels-last) memory, which MMRazor's
# ChannelWiseDivergence cannot `.view`: a parameter-free ContiguousConnector
# (mmakd) on the student's and the teacher's side passes them on unchanged
# in contiguous memory.
_base_ = [
    'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',
    '../_base_/distillers/cwd_logits.py'
]

# mmseg model zoo `segformer_mit-b5_8xb1-160k_cityscapes-1024x1024`, 82.25
# mIoU.
teacher_ckpt = 'https://download.openmmlab.com/mmsegmentation/v0.5/segformer/segformer_mit-b5_8x1_1024x1024_160k_cityscapes/segformer_mit-b5_8x1_1024x1024_160k_cityscapes_20211206_072934-87a052ec.pth'  # noqa: E501

model = dict(
    _delete_=True,
    _scope_='mmrazor',
    type='MMAKDSingleTeacherDistill',
    architecture=dict(
        cfg_path=  # noqa: E251
        'mmseg::segformer/segformer_mit-b0_8xb1-160k_cityscapes-1024x1024.py',  # noqa: E501
        pretrained=False),
    # `pretrained=False`: teacher_ckpt supplies every teacher weight.
    teacher=dict(
        cfg_path=  # noqa: E251
        'mmseg::segformer/segformer_mit-b5_8xb1-160k_cityscapes-1024x1024.py',  # noqa: E501
        pretrained=False),
    teacher_ckpt=teacher_ckpt,
    distiller=dict(
        _base_.cwd_logits_distiller,
        connectors=dict(
            logits_s=dict(type='ContiguousConnector'),
            logits_t=dict(type='ContiguousConnector')),
        loss_forward_mappings=dict(
            loss_cwd=dict(
                preds_S=dict(
                    from_student=True,
                    recorder='logits',
                    connector='logits_s'),
                preds_T=dict(
                    from_student=False,
                    recorder='logits',
                    connector='logits_t')))))

# Validation of the student (and the teacher), as MMRazor's recipe.
val_cfg = dict(_delete_=True, type='mmrazor.SingleTeacherDistillValLoop')
