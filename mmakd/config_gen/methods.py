"""The distillation methods the generator writes, with published defaults.

Each method gives the loss config of one paired output and says where its
values come from; a student-side connector maps channels where they differ
(MGD's generation block is always one).

The published values are read, not restated: from the config that holds
them for mmakd's recipes, an MMRazor recipe that they reuse unchanged or
mmakd's own ``configs/_base_/distillers/`` file that they read
(:class:`Published`). ``docs/tools.md`` holds :func:`defaults_table`
(tested).
"""
import copy
import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Tuple

from ..utils import load_config

#: MMRazor's recipes, where the defaults below are published.
MMRAZOR = 'mmrazor::distill/'
#: mmakd's distiller bases: ``configs/_base_/distillers/`` in the package.
DISTILLERS = 'mmakd::_base_/distillers/'
#: Loss and connector arguments that the generator sets per pair.
CHANNEL_KEYS = ('in_channels', 'student_channels', 'teacher_channels')


@functools.lru_cache(maxsize=None)
def _config(name: str) -> Dict[str, Any]:
    """The config ``name`` (``'pkg::path'``) as a dict, read once."""
    return load_config(name).to_dict()


def short(value: Any) -> str:
    """``value`` as the written configs' comments give it: ``2e-5``, ``10``,
    ``0.65``, ``True``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    return re.sub(r'e([+-])0*(\d)', r'e\1\2', f'{value:g}').replace('e+', 'e')


def _values(args: Dict[str, Any]) -> str:
    return ', '.join(f'{key}={short(value)}' for key, value in args.items())


def _published_args(cfg: Dict[str, Any]) -> Dict[str, Any]:
    """A loss or connector config without its type and per-pair channels."""
    return {
        k: v
        for k, v in cfg.items() if k != 'type' and k not in CHANNEL_KEYS
    }


@dataclass(frozen=True)
class Published:
    """One distill loss of the config that publishes a method's values.

    Args:
        config (str): That config, ``'pkg::path'``.
        distiller (str): The dotted key of its ``ConfigurableDistiller``
            config (``'model.distiller'`` in a recipe).
        loss (str): One of its distill losses (a recipe's levels share
            their values).
        cited (str, optional): Where the values were published, when
            ``config`` restates them (mmakd's base of an MMRazor setting
            that cannot be inherited). Defaults to ``config``.
    """
    config: str
    distiller: str
    loss: str
    cited: Optional[str] = None

    @property
    def citation(self) -> str:
        """``cited``, else ``config``."""
        return self.cited or self.config

    def distiller_cfg(self) -> Dict[str, Any]:
        """The published distiller config (a copy)."""
        node = _config(self.config)
        for key in self.distiller.split('.'):
            node = node[key]
        return copy.deepcopy(node)

    def loss_cfg(self) -> Dict[str, Any]:
        """The published loss config, as the config writes it."""
        return self.distiller_cfg()['distill_losses'][self.loss]

    def connector_cfg(self) -> Dict[str, Any]:
        """The connector of the loss's student input.

        Raises:
            KeyError: The student input has no connector.
        """
        distiller = self.distiller_cfg()
        mapping = distiller['loss_forward_mappings'][self.loss]
        name = next(m['connector'] for m in mapping.values()
                    if m.get('from_student') and 'connector' in m)
        return distiller['connectors'][name]

    def extra_inputs(self, student_key: str,
                     teacher_key: str) -> Tuple[Dict, Dict]:
        """What the loss reads besides the two features (FGD's ground
        truth): ``(student recorders, loss arguments)`` by name."""
        distiller = self.distiller_cfg()
        mapping = distiller['loss_forward_mappings'][self.loss]
        args = {
            k: v
            for k, v in mapping.items() if k not in (student_key, teacher_key)
        }
        recorders = {
            a['recorder']: distiller['student_recorders'][a['recorder']]
            for a in args.values()
        }
        return recorders, args


@dataclass(frozen=True)
class Method:
    """One distillation method.

    Args:
        published (callable): ``(where, two_stage) -> Published``, or None
            where nothing is published (the loss's defaults).
        describe (callable): ``(method, where, two_stage) -> where the
            values come from``, for the written config's comment.
        weight_key (str): The loss argument that ``--loss-weight`` sets.
        loss_type (str, optional): The loss, where nothing is published.
        own_args (dict): The generator's own loss arguments, not published
            (written before the published ones).
        default_weight (float, optional): ``weight_key`` where the
            published loss leaves it to the loss's default.
        student_key (str): The loss's student argument.
        teacher_key (str): The loss's teacher argument.
        connector (bool): Whether the student's input goes through the
            published connector on every pair (MGD's generation block);
            else a 1x1 conv where channels differ.
        needs_boxes (bool): Whether the loss reads the ground truth
            (detectors only).
        aligns_itself (bool): Whether the loss maps channels itself.
    """
    published: Callable[[str, bool], Optional[Published]]
    describe: Callable[['Method', str, bool], str]
    weight_key: str = 'loss_weight'
    loss_type: Optional[str] = None
    own_args: Dict[str, Any] = field(default_factory=dict)
    default_weight: Optional[float] = None
    student_key: str = 'preds_S'
    teacher_key: str = 'preds_T'
    connector: bool = False
    needs_boxes: bool = False
    aligns_itself: bool = False

    def loss(self, where: str, two_stage: bool) -> Dict[str, Any]:
        """The loss config of one pair, without per-pair channels: type,
        the generator's own arguments, the published ones, the weight."""
        published = self.published(where, two_stage)
        loss = published.loss_cfg() if published else dict(
            type=self.loss_type)
        args = _published_args(loss)
        weight = args.pop(self.weight_key, self.default_weight)
        return dict(
            type=loss['type'], **self.own_args, **args,
            **{self.weight_key: weight})

    def values(self, where: str, two_stage: bool) -> str:
        """The published values, ``tau=1, loss_weight=10``; with the
        connector's (MGD's ``lambda_mgd``)."""
        published = self.published(where, two_stage)
        args = _published_args(published.loss_cfg())
        if self.connector:
            args.update(_published_args(published.connector_cfg()))
        return _values(args)

    def source(self, where: str, two_stage: bool) -> str:
        """Where the values come from, for the written config's comment."""
        return self.describe(self, where, two_stage)


CWD_FPN = Published(MMRAZOR + 'mmdet/cwd/cwd_fpn_retina_r101_retina_r50_1x_'
                    'coco.py', 'model.distiller', 'loss_cwd_fpn0')
# MMRazor's setting as configs/cwd/ reads it (its PSPNet recipe reuses
# MMRazor's own; the others read this base).
CWD_LOGITS = Published(
    DISTILLERS + 'cwd_logits.py',
    'cwd_logits_distiller',
    'loss_cwd',
    cited=MMRAZOR + 'mmseg/cwd/cwd_logits_pspnet_r101-d8_pspnet_r18-d8_4xb2-'
    '80k_cityscapes-512x1024.py')
PKD_FPN = Published(
    MMRAZOR + 'mmdet/pkd/pkd_fpn_faster-rcnn_r101_faster-rcnn_r50_2x_coco.py',
    'model.distiller', 'loss_pkd_fpn0')
MGD_FPN = Published(
    MMRAZOR + 'mmdet/mgd/mgd_fpn_retina_x101_retina_r50_2x_coco.py',
    'model.distiller', 'loss_mgd_fpn0')
#: FGD's release settings (yzd-v/FGD), one-stage and two-stage (RoI head).
FGD_FPN = {
    two_stage: Published(DISTILLERS + 'fgd_fpn.py',
                         f'fgd_fpn_distillers.{setting}', 'loss_fgd_fpn0')
    for two_stage, setting in ((False, 'retinanet'), (True, 'faster_rcnn'))
}
#: The detector of each FGD setting, for the comment.
FGD_DETECTORS = {False: 'RetinaNet', True: 'Faster R-CNN'}


def _fpn_value(method: Method, where: str, two_stage: bool) -> str:
    """``<values> per level: <recipe>``, with a note off the neck."""
    cited = method.published(where, two_stage).citation
    note = '' if where == 'neck' else \
        ' (its FPN value; none is published for this place)'
    return f'{method.values(where, two_stage)} per level: {cited}{note}'


def _cited(method: Method, where: str, two_stage: bool) -> str:
    """``<values>: <recipe>``."""
    cited = method.published(where, two_stage).citation
    return f'{method.values(where, two_stage)}: {cited}'


def _cwd(method: Method, where: str, two_stage: bool) -> str:
    describe = _cited if where == 'logits' else _fpn_value
    return describe(method, where, two_stage)


def _fgd(method: Method, where: str, two_stage: bool) -> str:
    published = method.published(where, two_stage)
    temp = short(published.loss_cfg()['temp'])
    base = published.config.replace('mmakd::', 'configs/')
    return (f'temp={temp}, alpha/beta/gamma/lambda of the authors\' '
            f'{FGD_DETECTORS[two_stage]} configs (yzd-v/FGD), as {base}')


def _l2(method: Method, where: str, two_stage: bool) -> str:
    defaults = dict(method.own_args, **{method.weight_key:
                                        method.default_weight})
    return (f"MMRazor's {method.loss_type} defaults ({_values(defaults)}); "
            'no recipe publishes a value')


METHODS: Dict[str, Method] = dict(
    cwd=Method(
        published=lambda where, two: CWD_LOGITS
        if where == 'logits' else CWD_FPN,
        describe=_cwd),
    pkd=Method(
        published=lambda where, two: PKD_FPN,
        describe=_fpn_value,
        own_args=dict(resize_stu=True)),
    mgd=Method(
        published=lambda where, two: MGD_FPN,
        describe=_cited,
        weight_key='alpha_mgd',
        connector=True),
    fgd=Method(
        published=lambda where, two: FGD_FPN[two],
        describe=_fgd,
        # The release's settings carry no loss weight: the loss's default.
        default_weight=1.0,
        needs_boxes=True,
        aligns_itself=True),
    l2=Method(
        published=lambda where, two: None,
        describe=_l2,
        loss_type='L2Loss',
        own_args=dict(normalize=True),
        default_weight=1.0,
        student_key='s_feature',
        teacher_key='t_feature'),
)

#: The cases of :func:`defaults_table`, as its rows name them.
_WHERE = (('neck', '`--where neck`'), ('logits', '`--where logits`'),
          ('MODULE', '`--where MODULE`'))
_STAGES = {False: 'one-stage student', True: 'two-stage student (RoI head)'}


def defaults_table() -> str:
    """The methods, their losses and where their values come from, as a
    Markdown table (``docs/tools.md`` holds it)."""
    lines = [
        '| `--method` | loss | `--loss-weight` sets | when | read from | loss '
        "values (the written config's comment) |", '|---|---|---|---|---|---|'
    ]
    for name in sorted(METHODS):
        method = METHODS[name]
        loss_type = method.loss('neck', False)['type']
        cases: Dict[Tuple[str, str], List[Tuple[str, bool]]] = {}
        for where, label in _WHERE:
            for two_stage in _STAGES:
                published = method.published(where, two_stage)
                read = f'`{published.config}`' if published else '-'
                cases.setdefault((read, method.source(where, two_stage)),
                                 []).append((label, two_stage))
        for (read, source), found in cases.items():
            labels = list(dict.fromkeys(label for label, _ in found))
            stages = {two_stage for _, two_stage in found}
            when = ', '.join(labels)
            if len(cases) == 1:
                when = 'always'
            elif len(stages) == 1 and len(labels) == len(_WHERE):
                when = _STAGES[stages.pop()]
            lines.append(f'| `{name}` | `{loss_type}` | `{method.weight_key}`'
                         f' | {when} | {read} | {source} |')
    return '\n'.join(lines)
