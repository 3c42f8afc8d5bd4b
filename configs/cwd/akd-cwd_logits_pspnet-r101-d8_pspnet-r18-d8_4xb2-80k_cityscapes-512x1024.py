# AKD on CWD: PSPNet R101-d8 -> PSPNet R18-d8, Cityscapes 512x1024, 80k.
#
# The baseline (`_base_`, same folder) plus Avatars (Avatar Knowledge
# Distillation, Zhang et al., ACM MM 2023): each distill loss that reads a
# teacher record (the teacher's logits) learns from an Avatar of that record,
# a fresh random perturbation of it drawn every iteration, through the
# uncertainty-aware factor. One teacher forward per iteration; the student
# and its inference are unchanged. Everything else is the baseline's.
_base_ = './cwd_logits_pspnet-r101-d8_pspnet-r18-d8_4xb2-80k_cityscapes-512x1024.py'  # noqa: E501

custom_imports = dict(imports=['mmakd'], allow_failed_imports=False)

model = dict(
    distiller=dict(
        type='AvatarDistiller',
        # The authors' release (Gumpest/AvatarKD): one Avatar per teacher
        # record and iteration, element-wise dropout with p = 0.1.
        avatar_generator=dict(
            num_avatars=1, perturbation=dict(type='ElementDropout', p=0.1)),
        # The paper's factor: student and Avatar divided by sigma, sigma^2 =
        # E_x E_i[(A_i - T)^2] (docs/method.md). 'official' is the release's
        # per-tensor batch standardisation.
        uncertainty='paper'))
