# MasKD (Masked Distillation with Receptive Tokens, Huang et al., ICLR 2023)
# on the 5 FPN levels of an mmdet detector, as the official recipes
# (hunto/MasKD, mmrazor/configs/distill/maskd/) distil them:
# - one MasKDLoss per neck output (P3-P7, 256 channels): the teacher's
#   stage-1 tokens (6 per level, with the probability head), frozen; the
#   student's masks join after `custom_mask_warmup` iterations;
# - each student neck output through its own trainable 1x1 conv (the
#   official `align_module`), the teacher's as it is;
# - the head terms of the official configs: the student's regression
#   outputs against the teacher's, per level (RetinaNet: `retina_reg`;
#   RepPoints: `reppoints_pts_refine_out` and `reppoints_pts_init_out`).
#
# `maskd_fpn_distillers` holds the ConfigurableDistiller of each official
# recipe, keyed by teacher; a recipe lists this file after its student's
# mmdet config in `_base_` and sets
# `model.distiller = _base_.maskd_fpn_distillers[<teacher>]`.
# `tokens_ckpt` is the official token file of that teacher (loaded strictly);
# configs/maskd/maskd-tokens_* learn your own (stage 1).
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
# The teacher's parameters get no gradient.
find_unused_parameters = True

_releases = dict(
    gumpest='https://github.com/Gumpest/MasKD/releases/download/v0.0.3/',
    hunto='https://github.com/hunto/MasKD/releases/download/v0.0.1/')
_settings = {
    # retinanet_r101-retinanet_r50_coco.py
    'retina-r101': dict(
        warmup=7000,
        loss_weight=7,
        tokens=_releases['gumpest'] +
        'maskd_retinanet_r101_fpn_2x_coco_20200131-5560aee8.ckpt',
        heads=[('bbox_head.retina_reg', dict(type='mmdet.L1Loss'))]),
    # retinanet_x101-retinanet_r50_coco.py
    'retina-x101': dict(
        warmup=8500,
        loss_weight=7,
        tokens=_releases['gumpest'] +
        'maskd_retinanet_x101_64x4d_fpn_mstrain_3x_coco_20210719_051838-'
        '022c2187.ckpt',
        heads=[('bbox_head.retina_reg', dict(type='mmdet.SmoothL1Loss'))]),
    # fcos_r101-fcos_r50_coco.py
    'fcos-r101': dict(
        warmup=5000,
        loss_weight=10,
        tokens=_releases['hunto'] +
        'maskd_fcos_r101_caffe_fpn_gn-head_mstrain_640-800_2x_coco_'
        '20220530.pth',
        heads=[]),
    # reppoints_x101-reppoints-r50_coco.py
    'reppoints-x101-dcn': dict(
        warmup=5000,
        loss_weight=10,
        tokens=_releases['hunto'] +
        'maskd_reppoints_moment_x101_fpn_dconv_c3-c5_gn-neck.2Bhead_2x_coco_'
        '20220530.pth',
        heads=[('bbox_head.reppoints_pts_refine_out',
                dict(type='mmdet.SmoothL1Loss', beta=0.11, loss_weight=0.2)),
               ('bbox_head.reppoints_pts_init_out',
                dict(type='mmdet.SmoothL1Loss', beta=0.11, loss_weight=0.1))
               ]),
}


def _maskd_fpn_distiller(warmup, loss_weight, tokens, heads, levels=range(5)):
    recorders = dict(fpn=dict(type='ModuleOutputs', source='neck'))
    losses, mappings = {}, {}
    for i in levels:
        losses[f'loss_maskd_fpn{i}'] = dict(
            type='MasKDLoss',
            channels=256,
            level=i,
            num_tokens=6,
            weight_mask=True,
            custom_mask=True,
            custom_mask_warmup=warmup,
            tokens_ckpt=tokens,
            loss_weight=loss_weight)
        mappings[f'loss_maskd_fpn{i}'] = dict(
            preds_S=dict(
                from_student=True,
                recorder='fpn',
                data_idx=i,
                connector=f'fpn{i}_s'),
            preds_T=dict(from_student=False, recorder='fpn', data_idx=i))
    # A shared head runs once per level: record_idx is the level.
    for source, loss in heads:
        name = source.split('.')[-1]
        recorders[name] = dict(type='ModuleOutputs', source=source)
        for i in levels:
            losses[f'loss_{name}{i}'] = loss
            mappings[f'loss_{name}{i}'] = dict(
                pred=dict(from_student=True, recorder=name, record_idx=i),
                target=dict(from_student=False, recorder=name, record_idx=i))
    return dict(
        type='ConfigurableDistiller',
        student_recorders=recorders,
        teacher_recorders=recorders,
        connectors={
            f'fpn{i}_s': dict(
                type='ConvModuleConnector',
                in_channel=256,
                out_channel=256,
                bias=True,
                norm_cfg=None,
                act_cfg=None)
            for i in levels
        },
        distill_losses=losses,
        loss_forward_mappings=mappings)


maskd_fpn_distillers = {
    teacher: _maskd_fpn_distiller(**setting)
    for teacher, setting in _settings.items()
}
#: The head terms of each recipe (MasKD + AKD keeps them without Avatars,
#: as the AKD release's MasKD config does).
maskd_head_losses = {
    teacher: [
        name for name in maskd_fpn_distillers[teacher]['distill_losses']
        if not name.startswith('loss_maskd')
    ]
    for teacher in _settings
}
del _releases, _settings
