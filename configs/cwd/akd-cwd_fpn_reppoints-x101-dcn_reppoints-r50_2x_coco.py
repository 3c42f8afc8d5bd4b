# AKD on CWD: RepPoints X101-32x4d-DCN -> RepPoints R50, 2x, COCO.
#
# The baseline (`_base_`, same folder) plus Avatars (Avatar Knowledge
# Distillation, Zhang et al., ACM MM 2023): each distill loss that reads a
# teacher record (the 5 FPN levels) learns from an Avatar of that record, a
# fresh random perturbation of it drawn every iteration, through the
# uncertainty-aware factor. One teacher forward per iteration; the student
# and its inference are unchanged. Everything else is the baseline's.
#
# Not carried over from the release: its student FPN outputs pass through a
# trainable 1x1 conv (256 -> 256) per level before the loss. The base recipe
# has none, and this config differs from it by the distiller only.
_base_ = './cwd_fpn_reppoints-x101-dcn_reppoints-r50_2x_coco.py'

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
