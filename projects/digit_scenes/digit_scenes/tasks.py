"""The demo's tasks: what :mod:`.demo` trains and compares.

Detection (RetinaNet, mAP) and segmentation (PSPNet, mIoU) on Digit Scenes,
each with its teacher's config and its students' methods: a config and the
overrides merged into it.
"""
import os.path as osp
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from .paths import CONFIGS


@dataclass
class Task:
    """One dense-prediction task of the demo and its configs."""
    name: str
    metric: str  # key of the validation metric in mmengine's log
    metric_label: str
    teacher: str
    # CocoMetric logs nothing when no box passes the score threshold.
    no_metric_means_zero: bool
    # Run-to-run noise of the 3-seed study at 300 iterations (docs/study.md).
    study_noise: str
    #: The methods of ``--study`` and their student iterations there.
    study_methods: List[str]
    study_iters: int
    methods: Dict[str, tuple] = field(default_factory=dict)
    #: MasKD's stage 1 (receptive tokens on the teacher), for the methods
    #: whose config reads a ``tokens_ckpt``.
    tokens: Optional[str] = None

    def __post_init__(self) -> None:
        """Checks that each study method is one of the task's."""
        unknown = [m for m in self.study_methods if m not in self.methods]
        if unknown:
            raise ValueError(f'{self.name}: study_methods {unknown} are '
                             f'not among its methods {sorted(self.methods)}')

    @property
    def study(self) -> List[str]:
        """The methods of ``--study``."""
        return list(self.study_methods)

    @property
    def ablation(self) -> List[str]:
        """The AKD variants of ``--ablation``."""
        return list(ABLATION_METHODS)

    @property
    def teachers_study(self) -> List[str]:
        """The students of ``--teachers-study``."""
        return list(TEACHERS_STUDY_METHODS)


def _cfg(name: str) -> str:
    """A config file of ``projects/digit_scenes/configs``."""
    return osp.join(CONFIGS, name)


def _uncertainty_variants(base: str, akd_config: str) -> Dict[str, tuple]:
    """``<base> + AKD`` in the paper's form, the released code's own form
    (``'release'``) and without the uncertainty factor (``'none'``).

    Each sets ``uncertainty`` itself: the AKD recipes' defaults differ
    (MasKD's is the release's form, as its AKD recipe was released).
    """
    uncertainty = 'model.distiller.uncertainty'
    return {
        f'{base} + AKD': (akd_config, {uncertainty: 'paper'}),
        f'{base} + AKD (no sigma)': (akd_config, {uncertainty: 'none'}),
        f'{base} + AKD (release)': (akd_config, {uncertainty: 'release'}),
    }


def _akd_variants(akd_config: str) -> Dict[str, tuple]:
    """CWD + AKD with one setting changed from the release's.

    More Avatars, a weaker and a stronger dropout, the Avatars without the
    uncertainty factor (which, dividing student and Avatar by sigma, also
    changes the temperature of CWD's softmax), the released code's own form
    of the factor, its per-tensor standardisation of student and Avatar
    alike (``'official'``), and sigma from its closed form instead of the
    one drawn Avatar.
    """
    generator = 'model.distiller.avatar_generator'
    return {
        **_uncertainty_variants('CWD', akd_config),
        'CWD + AKD (official)': (akd_config, {
            'model.distiller.uncertainty': 'official'
        }),
        'CWD + AKD (N=4)': (akd_config, {f'{generator}.num_avatars': 4}),
        'CWD + AKD (p=0.05)': (akd_config, {
            f'{generator}.perturbation': dict(type='ElementDropout', p=0.05)
        }),
        'CWD + AKD (p=0.3)': (akd_config, {
            f'{generator}.perturbation': dict(type='ElementDropout', p=0.3)
        }),
        'CWD + AKD (expected sigma)': (akd_config, {
            'model.distiller.sigma': 'expected'
        }),
    }


def _teacher_variants(cwd_config: str, cwd_3x_config: str,
                      akd_3x_config: str) -> Dict[str, tuple]:
    """CWD and CWD + AKD from three teachers (seeds 0, 1, 2; each
    ``model.teachers.t<k>``), and CWD with the student's neck and head
    inherited from the teacher (``model.inherit=True``)."""
    return {
        'CWD (3 teachers)': (cwd_3x_config, {}),
        'CWD + AKD (3 teachers)': (akd_3x_config, {
            'model.distiller.uncertainty': 'paper'
        }),
        'CWD (inherit)': (cwd_config, {'model.inherit': True}),
    }


def teacher_seeds(teachers: Optional[Dict]) -> Tuple[int, ...]:
    """The seeds of a config's teachers (``model.teachers``), in order.

    Teacher ``t<k>`` is the task's teacher config trained with
    ``randomness.seed=k``; ``t0`` is the demo's teacher. A config with one
    teacher (no ``model.teachers``) has none.

    Raises:
        ValueError: A teacher named otherwise.
    """
    seeds = []
    for name in teachers or {}:
        found = re.fullmatch(r't(\d+)', name)
        if not found:
            raise ValueError(
                f'model.teachers: the demo reads teacher t<k> as the '
                f'teacher trained with seed k, but got the name {name!r}')
        seeds.append(int(found.group(1)))
    return tuple(seeds)


ABLATION_METHODS = ['CWD + AKD (N=4)', 'CWD + AKD (p=0.05)',
                    'CWD + AKD (p=0.3)', 'CWD + AKD (no sigma)']
# Each '+ AKD' method is compared, seed by seed, with its base loss.
SEG_STUDY_METHODS = [
    'no KD', 'CWD', 'CWD + AKD', 'CWD + AKD (no sigma)',
    'CWD + AKD (release)', 'CWD + AKD (expected sigma)', 'CWD + AKD (p=0.3)'
]
# Each base loss alone and with Avatars in the paper's form and in the two
# forms that the segmentation study found best.
DET_STUDY_METHODS = ['no KD'] + [
    f'{base}{variant}' for base in ('CWD', 'FGD', 'MasKD')
    for variant in ('', ' + AKD', ' + AKD (release)', ' + AKD (no sigma)')
]

# CWD from one teacher and from three, each with and without Avatars (the
# paper's form); and CWD inheriting the teacher's neck and head. Each is
# compared with CWD, seed by seed.
TEACHERS_STUDY_METHODS = ['CWD', 'CWD (3 teachers)', 'CWD + AKD',
                          'CWD + AKD (3 teachers)', 'CWD (inherit)']
#: The method whose config (its distiller's Avatars, element dropout
#: p = 0.1) eval_avatars.py reads for the Avatars as inference models.
AVATARS_METHOD = 'CWD + AKD'


TASKS = {
    'det':
    Task(
        'det',
        'coco/bbox_mAP',
        'mAP',
        _cfg('retinanet_r18-w32_fpn_1500i_digit-scenes.py'),
        True,
        'std 0.008-0.026 mAP',
        DET_STUDY_METHODS,
        300,
        methods={
            'no KD': (_cfg('retinanet_r18-w8_fpn_1500i_digit-scenes.py'),
                      {}),
            'CWD': (_cfg('cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                         'digit-scenes.py'), {}),
            **_akd_variants(
                _cfg('akd-cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py')),
            **_teacher_variants(
                _cfg('cwd_fpn_retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py'),
                _cfg('cwd_fpn_3x-retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py'),
                _cfg('akd-cwd_fpn_3x-retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py')),
            'FGD': (_cfg('fgd_fpn_retina-r18w32_retina-r18w8_1500i_'
                         'digit-scenes.py'), {}),
            **_uncertainty_variants(
                'FGD',
                _cfg('akd-fgd_fpn_retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py')),
            'MasKD': (_cfg('maskd_fpn_retina-r18w32_retina-r18w8_1500i_'
                           'digit-scenes.py'), {}),
            **_uncertainty_variants(
                'MasKD',
                _cfg('akd-maskd_fpn_retina-r18w32_retina-r18w8_1500i_'
                     'digit-scenes.py')),
        },
        tokens=_cfg('maskd-tokens_fpn_retina-r18w32_300i_digit-scenes.py')),
    'seg':
    Task(
        'seg',
        'mIoU',
        'mIoU',
        _cfg('pspnet_r18-w32-d4_1500i_digit-scenes.py'),
        False,
        'std 1.6-9.1 mIoU',
        SEG_STUDY_METHODS,
        900,
        methods={
            'no KD': (_cfg('pspnet_r18-w8-d4_1500i_digit-scenes.py'), {}),
            'CWD': (_cfg('cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                         'digit-scenes.py'), {}),
            **_akd_variants(
                _cfg('akd-cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                     'digit-scenes.py')),
            **_teacher_variants(
                _cfg('cwd_logits_pspnet-r18w32_pspnet-r18w8_1500i_'
                     'digit-scenes.py'),
                _cfg('cwd_logits_3x-pspnet-r18w32_pspnet-r18w8_1500i_'
                     'digit-scenes.py'),
                _cfg('akd-cwd_logits_3x-pspnet-r18w32_pspnet-r18w8_1500i_'
                     'digit-scenes.py')),
        }),
}
#: The students of `make demo`; `make demo-quick` (``--quick``) trains the
#: first three.
DEMO_METHODS = ['no KD', 'CWD', 'CWD + AKD', 'CWD (inherit)']
QUICK_METHODS = DEMO_METHODS[:3]

#: Narrower detection students, candidates for a study that can tell
#: methods apart (docs/study.md, "Choosing the detection student"): the
#: R18-w8 student's backbone at width ``w`` (``w``, 2w, 4w channels), the
#: rest (FPN 64, 1-conv head) as it is. Each adds 'no KD (w<w>)', 'CWD
#: (w<w>)' and 'FGD (w<w>)' to the detection task.
STUDENT_WIDTHS = (4, 2)


def _narrower_students(methods: Dict[str, tuple]) -> Dict[str, tuple]:
    """The base methods of ``methods`` with each :data:`STUDENT_WIDTHS`."""
    found = {}
    for width in STUDENT_WIDTHS:
        for method in ('no KD', 'CWD', 'FGD'):
            config, overrides = methods[method]
            student = 'model.' if method == 'no KD' else \
                'model.architecture.'
            found[f'{method} (w{width})'] = (config, {
                **overrides,
                f'{student}backbone.base_channels': width,
                f'{student}neck.in_channels': [width, 2 * width, 4 * width],
            })
    return found


TASKS['det'].methods.update(_narrower_students(TASKS['det'].methods))
