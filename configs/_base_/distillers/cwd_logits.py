# CWD on a segmentor's logits, `decode_head.conv_seg` of student and
# teacher, with MMRazor's CWD logits settings for PSPNet on Cityscapes
# (`mmrazor::distill/mmseg/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-
# 80k_cityscapes-512x1024.py`): its tau and loss weight, in `loss_cwd`
# below, mmakd's one copy of them (that recipe cannot be a second `_base_`
# beside a student's config: both set the model, data and schedule, and
# mmengine refuses keys that two bases share). Teacher and student must give
# their logits at the same stride (see tools/misc/distill_config.py --list).
# A recipe lists this file after its student's mmseg config in `_base_` and
# sets `model.distiller = _base_.cwd_logits_distiller`; distill_config.py
# (`--method cwd --where logits`) reads its loss from here.
custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)
# The teacher's parameters get no gradient.
find_unused_parameters = True

cwd_logits_distiller = dict(
    type='ConfigurableDistiller',
    student_recorders=dict(
        logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
    teacher_recorders=dict(
        logits=dict(type='ModuleOutputs', source='decode_head.conv_seg')),
    distill_losses=dict(
        loss_cwd=dict(type='ChannelWiseDivergence', tau=1, loss_weight=5)),
    loss_forward_mappings=dict(
        loss_cwd=dict(
            preds_S=dict(from_student=True, recorder='logits'),
            preds_T=dict(from_student=False, recorder='logits'))))
