"""Every bad input of the Avatars names itself; docs/errors.md lists them.

:data:`CASES` is the single list of bad inputs: each is built, its error
type and message checked, and ``docs/errors.md`` must hold exactly these rows
(``python tests/test_models/test_distillers/test_bad_inputs.py`` prints the
table). Inputs that ConfigurableDistiller also takes are given to both
distillers: AvatarDistiller must raise the same error type and message.
"""
import copy
import os
import os.path as osp
import re
import sys
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Type

import pytest
import torch
from mmrazor.registry import MODELS
from torch import nn

import mmakd  # noqa: F401

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from test_avatar_distiller import Setup, distiller_cfg  # noqa: E402

REPO_ROOT = osp.dirname(
    osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
ERRORS_DOC = osp.join(REPO_ROOT, 'docs', 'errors.md')
CWD = dict(type='ChannelWiseDivergence', tau=1.0, loss_weight=1.0)


class Case(NamedTuple):
    """One bad input: what is given, and the error it must raise."""
    key: str  # the config key, as the docs table shows it
    given: str  # the value, as the docs table shows it
    run: Callable[[], Any]
    error: Type[Exception]
    message: str  # a part of the message (plain text, not a regex)
    # Also given to ConfigurableDistiller: the same type and message.
    parity: Optional[Callable[[], Any]] = None


def distiller(**cfg) -> Callable[[], Any]:
    return lambda: Setup('AvatarDistiller', **cfg)


def plain(**cfg) -> Callable[[], Any]:
    return lambda: Setup('ConfigurableDistiller', **cfg)


def wrapper(**kwargs) -> Callable[[], Any]:
    cfg = dict(type='UncertaintyAwareKDLoss', base_loss=CWD)
    cfg.update(kwargs)
    return lambda: MODELS.build(cfg)


def generator(**kwargs) -> Callable[[], Any]:
    return lambda: MODELS.build(dict(type='AvatarGenerator', **kwargs))


def wrapped_call(uncertainty: str, base: Dict, student: torch.Tensor,
                 teacher: torch.Tensor) -> Callable[[], Any]:
    return lambda: MODELS.build(
        dict(
            type='UncertaintyAwareKDLoss', base_loss=base,
            uncertainty=uncertainty))(student, teacher)


def mappings_with(loss_cwd: Any) -> Dict:
    mappings = copy.deepcopy(distiller_cfg()['loss_forward_mappings'])
    mappings['loss_cwd'] = loss_cwd
    return mappings


def spatial_mask_on_logits() -> None:
    """SpatialMask Avatars of (B, C) logits: the first step names it."""
    from helpers import build_model, toy_config
    cfg = toy_config()
    cfg.model.distiller.update(
        type='AvatarDistiller',
        avatar_generator=dict(perturbation=dict(type='SpatialMask', p=0.1)))
    model = build_model(cfg)
    batch = dict(
        inputs=[torch.randn(3, 8, 8) for _ in range(2)],
        data_samples=[torch.tensor(0), torch.tensor(1)])
    model(**model.data_preprocessor(batch, True), mode='loss')


class Flat(nn.Module):

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.flat = nn.Flatten()

    def forward(self, x):
        return self.flat(self.stem(x))


def spatial_mask_on_flatten() -> None:
    """SpatialMask Avatars of an nn.Flatten output: known at build."""
    cfg = distiller_cfg(
        student_recorders=dict(feat=dict(type='ModuleOutputs',
                                         source='flat')),
        teacher_recorders=dict(feat=dict(type='ModuleOutputs',
                                         source='flat')),
        connectors={},
        distill_losses=dict(loss_mse=dict(type='L2Loss')),
        loss_forward_mappings=dict(
            loss_mse=dict(
                s_feature=dict(recorder='feat', from_student=True),
                t_feature=dict(recorder='feat', from_student=False))),
        avatar_generator=dict(perturbation=dict(type='SpatialMask', p=0.1)))
    built = MODELS.build(dict(type='AvatarDistiller', **cfg))
    built.prepare_from_student(Flat())
    built.prepare_from_teacher(Flat())


torch.manual_seed(0)
_FEAT = torch.randn(2, 4, 3, 3)
_LOGITS = torch.randn(1, 5)
EXPLICIT_NONE = dict(distill_losses=dict(
    loss_cwd=dict(type='UncertaintyAwareKDLoss', base_loss=CWD,
                  avatar_generator=3),
    loss_mse=dict(type='L2Loss'), loss_pkd=dict(type='PKDLoss')))

RELEASE_MGD_WITHOUT_CONNECTOR = dict(
    uncertainty='release',
    distill_losses=dict(loss_cwd=CWD, loss_mse=dict(type='MGDLoss'),
                        loss_pkd=dict(type='PKDLoss')),
    loss_forward_mappings=dict(
        loss_cwd=distiller_cfg()['loss_forward_mappings']['loss_cwd'],
        loss_mse=dict(
            preds_S=dict(recorder='feat', from_student=True,
                         connector='s_conn'),
            preds_T=dict(recorder='feat', from_student=False)),
        loss_pkd=distiller_cfg()['loss_forward_mappings']['loss_pkd']))
MGD_CONNECTOR = dict(
    type='MGDConnector', student_channels=8, teacher_channels=8)
RELEASE_MGD_SHARED_CONNECTOR = dict(
    RELEASE_MGD_WITHOUT_CONNECTOR,
    connectors=dict(s_conn=MGD_CONNECTOR))


def _same_statistics_key() -> Dict[str, Dict]:
    """Three CWD losses whose names give one statistics key."""
    cfg = distiller_cfg()
    loss = cfg['distill_losses']['loss_cwd']
    mapping = cfg['loss_forward_mappings']['loss_cwd']
    names = ('loss_cwd', 'LOSS_cwd', 'cwd')
    return dict(
        distill_losses={name: dict(loss) for name in names},
        loss_forward_mappings={name: dict(mapping) for name in names})


SAME_STATISTICS_KEY = _same_statistics_key()


CASES: List[Case] = [
    # ConfigurableDistiller's own checks, run first on the same inputs.
    Case('loss_forward_mappings', '`[dict(a=1)]` (a list)',
         distiller(loss_forward_mappings=[dict(a=1)]), TypeError,
         'loss_forward_mappings should be a dict instance',
         plain(loss_forward_mappings=[dict(a=1)])),
    Case('loss_forward_mappings.<loss>', "`[...]` or `'x'`",
         distiller(loss_forward_mappings=mappings_with([])), TypeError,
         'Each item of loss_forward_mappings should be a dict instance',
         plain(loss_forward_mappings=mappings_with([]))),
    Case('loss_forward_mappings.<loss>', 'an argument the loss lacks',
         distiller(loss_forward_mappings=mappings_with(
             dict(student_feats=dict(recorder='feat', from_student=True),
                  preds_T=dict(recorder='feat', from_student=False)))),
         AssertionError, 'student_feats is not in the signature',
         plain(loss_forward_mappings=mappings_with(
             dict(student_feats=dict(recorder='feat', from_student=True),
                  preds_T=dict(recorder='feat', from_student=False))))),
    Case('distill_losses.<loss>.type', "`'NoLoss'`",
         distiller(distill_losses=dict(
             loss_cwd=dict(type='NoLoss'), loss_mse=dict(type='L2Loss'),
             loss_pkd=dict(type='PKDLoss'))), KeyError,
         'NoLoss is not in the mmrazor::model registry',
         plain(distill_losses=dict(
             loss_cwd=dict(type='NoLoss'), loss_mse=dict(type='L2Loss'),
             loss_pkd=dict(type='PKDLoss')))),
    # AvatarDistiller's own arguments.
    Case('uncertainty', "`'gaussian'`", distiller(uncertainty='gaussian'),
         ValueError, "`uncertainty` must be one of ('paper', 'official', "
         "'release', 'none'), but got 'gaussian'"),
    Case('sigma', "`'exact'`", distiller(sigma='exact'), ValueError,
         "`sigma` must be one of ('sampled', 'expected'), but got 'exact'"),
    Case('sigma', "`'expected'` with `uncertainty='official'`",
         distiller(sigma='expected', uncertainty='official'), ValueError,
         "`sigma`='expected' sets how uncertainty='paper' computes sigma, "
         "but `uncertainty` is 'official'"),
    Case('uncertainty', "`'release'` on MGD whose student input has no "
         '`MGDConnector`', distiller(**RELEASE_MGD_WITHOUT_CONNECTOR),
         ValueError, "must go through an MGDConnector, but its connector is "
         "'s_conn' (ConvModuleConnector)"),
    Case('uncertainty', "`'release'` on MGD whose `MGDConnector` other "
         'losses read too', distiller(**RELEASE_MGD_SHARED_CONNECTOR),
         ValueError, "the MGDConnector 's_conn' of loss 'loss_mse' "
         "(uncertainty='release') standardises its input, but losses "
         "['loss_cwd'] read it too"),
    Case('check_finite_interval', '`50` (now the check hook\'s)',
         distiller(check_finite_interval=50), TypeError,
         '`check_finite_interval` is now the `interval` of '
         'DistillLossCheckHook'),
    Case('uncertainty_eps', "`'x'`", distiller(uncertainty_eps='x'),
         TypeError, "`uncertainty_eps` must be a number > 0, but got 'x'"),
    Case('uncertainty_eps', '`inf`', distiller(uncertainty_eps=float('inf')),
         ValueError, '`uncertainty_eps` must be a finite number > 0, but '
         'got inf'),
    Case('uncertainty_eps', '`0`', distiller(uncertainty_eps=0.0),
         ValueError, '`uncertainty_eps` must be > 0, but got 0.0'),
    Case('distill_losses', "`loss_cwd`, `LOSS_cwd` and `cwd`",
         distiller(**SAME_STATISTICS_KEY), ValueError,
         "the distill losses 'loss_cwd' and 'LOSS_cwd' would log their "
         "statistics under the same key 'akd_<stat>.LOSS_cwd'"),
    Case('exclude_losses', "`['loss_x']`",
         distiller(exclude_losses=['loss_x']),
         KeyError, "`exclude_losses` names ['loss_x'], which are not in "
         '`distill_losses`'),
    Case('exclude_losses', '`3`', distiller(exclude_losses=3), TypeError,
         '`exclude_losses` must be a loss name, a list of loss names or '
         'None, but got 3'),
    Case('avatar_generator', '`3`', distiller(avatar_generator=3), TypeError,
         'AvatarDistiller: `avatar_generator` must be None or a dict'),
    Case('avatar_generator.num_avatars', '`0`',
         distiller(avatar_generator=dict(num_avatars=0)), ValueError,
         '`num_avatars` must be an int >= 1, but got 0'),
    Case('avatar_generator.perturbation', "`'dropout'`",
         generator(perturbation='dropout'), TypeError,
         '`perturbation` must be a dict or a list of dicts'),
    Case('avatar_generator.perturbation', '`[]`', generator(perturbation=[]),
         ValueError, '`perturbation` is an empty list'),
    Case('avatar_generator.perturbation.type', "`'Cutout'`",
         generator(perturbation=dict(type='Cutout')), KeyError,
         "unknown `perturbation` type 'Cutout'"),
    Case('avatar_generator.perturbation', "`dict(type='ElementDropout', "
         'q=0.1)`',
         generator(perturbation=dict(type='ElementDropout', q=0.1)),
         TypeError,
         "unexpected keyword argument 'q'"),
    Case('avatar_generator.perturbation.p', "`'x'`",
         generator(perturbation=dict(type='ElementDropout', p='x')),
         TypeError, "ElementDropout: `p` must be a number in [0, 1), but "
         "got 'x' (str)"),
    Case('avatar_generator.perturbation.p', '`None`',
         generator(perturbation=dict(type='ChannelDropout', p=None)),
         TypeError, 'ChannelDropout: `p` must be a number in [0, 1), but '
         'got None'),
    Case('avatar_generator.perturbation.p', '`1.0`',
         generator(perturbation=dict(type='SpatialMask', p=1.0)), ValueError,
         'SpatialMask: `p` must be in [0, 1), but got 1.0'),
    Case('avatar_generator.perturbation.std', '`nan`',
         generator(perturbation=dict(type='GaussianNoise', std=float('nan'))),
         ValueError, 'GaussianNoise: `std` must be a finite number >= 0, '
         'but got nan'),
    Case('avatar_generator.perturbation.std', '`inf`',
         generator(perturbation=dict(type='GaussianNoise', std=float('inf'))),
         ValueError, 'GaussianNoise: `std` must be a finite number >= 0, '
         'but got inf'),
    Case('avatar_generator.perturbation.std', '`-1`',
         generator(perturbation=dict(type='GaussianNoise', std=-1)),
         ValueError, 'GaussianNoise: `std` must be >= 0, but got -1.0'),
    Case('avatar_generator.perturbation.mode', "`'sideways'`",
         generator(perturbation=dict(type='GaussianNoise', mode='sideways')),
         ValueError, '`mode` must be one of'),
    Case('avatar_generator.perturbation', '`SpatialMask` on the output of '
         'an `nn.Flatten`', spatial_mask_on_flatten, ValueError,
         'features without spatial dimensions'),
    Case('avatar_generator.perturbation', '`SpatialMask` on (B, C) logits '
         '(first step)', spatial_mask_on_logits, ValueError,
         "makes Avatars of the teacher record 'logits' of shape (2, 4), "
         'which has no spatial dimensions'),
    # The explicit wrapper.
    Case('UncertaintyAwareKDLoss.avatar_generator', '`3`',
         wrapper(avatar_generator=3), TypeError,
         'UncertaintyAwareKDLoss: `avatar_generator` must be None or a dict'),
    Case('distill_losses.<loss>.avatar_generator', '`3` (in AvatarDistiller)',
         distiller(**EXPLICIT_NONE), TypeError,
         'UncertaintyAwareKDLoss: `avatar_generator` must be None or a dict'),
    Case('UncertaintyAwareKDLoss.sigma', "`'expected'` with "
         "`uncertainty='none'`", wrapper(sigma='expected', uncertainty='none'),
         ValueError, "`sigma`='expected' sets how uncertainty='paper' "
         "computes sigma, but `uncertainty` is 'none'"),
    Case('UncertaintyAwareKDLoss.eps', '`inf`', wrapper(eps=float('inf')),
         ValueError, "`eps` (the distiller's `uncertainty_eps`) must be a "
         'finite number > 0, but got inf'),
    Case('UncertaintyAwareKDLoss.base_loss', "`'ChannelWiseDivergence'`",
         wrapper(base_loss='ChannelWiseDivergence'), TypeError,
         '`base_loss` must be a loss config dict'),
    Case('UncertaintyAwareKDLoss.base_loss', 'an `UncertaintyAwareKDLoss`',
         wrapper(base_loss=dict(type='UncertaintyAwareKDLoss',
                                base_loss=CWD)), TypeError,
         'wrap the base loss once'),
    Case('UncertaintyAwareKDLoss.student_key', "`'x'`",
         wrapper(student_key='x', teacher_key='preds_T'), ValueError,
         "`student_key`='x' is not an argument of ChannelWiseDivergence"),
    # Inputs met in training.
    Case("uncertainty='official'", '(1, C) logits (one value per channel)',
         wrapped_call('official', dict(type='KLDivergence'), _LOGITS,
                      _LOGITS), ValueError,
         "uncertainty='official' standardises each channel with its batch "
         'statistics'),
    Case("uncertainty='release'", '`MGDLoss` called outside '
         '`AvatarDistiller`',
         wrapped_call('release', dict(type='MGDLoss'), _FEAT, _FEAT),
         ValueError, "uncertainty='release' with MGD standardises the "
         "student before MGD's masking and generation block"),
    Case("uncertainty='paper'", 'student (2, 8, 3, 3), teacher (2, 4, 3, 3)',
         wrapped_call('paper', CWD, torch.randn(2, 8, 3, 3), _FEAT),
         ValueError, '`preds_S` has shape (2, 8, 3, 3) and `preds_T` '
         '(2, 4, 3, 3)'),
    Case("uncertainty='official'", 'student (2, 8, 3, 3), teacher '
         '(2, 4, 3, 3)',
         wrapped_call('official', CWD, torch.randn(2, 8, 3, 3), _FEAT),
         ValueError, '`preds_S` has shape (2, 8, 3, 3) and `preds_T` '
         '(2, 4, 3, 3)'),
    Case("uncertainty='none'", 'student (2, 8, 3, 3), teacher (2, 4, 3, 3)',
         wrapped_call('none', dict(type='L2Loss'), torch.randn(2, 8, 3, 3),
                      _FEAT), ValueError,
         '`s_feature` has shape (2, 8, 3, 3) and `t_feature` (2, 4, 3, 3)'),
]


def _case_id(case: Case) -> str:
    return re.sub(r'\W+', '_', f'{case.key}_{case.given}').strip('_')[:60]


def _raised(run: Callable[[], Any]) -> Exception:
    try:
        run()
    except Exception as err:  # noqa: BLE001 (the test checks its type)
        return err
    pytest.fail('no error was raised')


@pytest.mark.parametrize('case', CASES, ids=[_case_id(c) for c in CASES])
def test_bad_input_raises_a_named_error(case: Case):
    err = _raised(case.run)
    assert type(err) is case.error, f'{type(err).__name__}: {err}'
    message = str(err.args[0]) if err.args else str(err)
    assert case.message in message, message
    if case.parity is not None:
        base = _raised(case.parity)
        assert type(base) is type(err)
        assert str(base) == str(err)


# ------------------------------------------------------- the docs table


HEADER = ('| config key | bad input | error | message (excerpt) |\n'
          '|---|---|---|---|')


def table_rows() -> List[str]:
    """The rows of the docs table, one per case, in :data:`CASES` order."""
    rows = []
    for case in CASES:
        message = case.message.replace('|', '\\|')
        rows.append(f'| `{case.key}` | {case.given} | '
                    f'`{case.error.__name__}` | {message} |')
    return rows


def test_errors_doc_lists_exactly_these_cases():
    with open(ERRORS_DOC, encoding='utf-8') as f:
        doc = f.read()
    assert HEADER in doc, f'{ERRORS_DOC} lacks the table header'
    doc_rows = []
    for line in doc[doc.index(HEADER) + len(HEADER):].splitlines()[1:]:
        if not line.startswith('|'):
            break  # the table ends at its first non-table line
        doc_rows.append(line)
    expected = table_rows()
    missing = [r for r in expected if r not in doc_rows]
    extra = [r for r in doc_rows if r not in expected]
    assert not missing and not extra, (
        'docs/errors.md is out of date; regenerate its table with `python '
        'tests/test_models/test_distillers/test_bad_inputs.py`. Missing: '
        f'{missing}; not a case: {extra}')


def test_errors_doc_names_tests_that_exist():
    """The other tables of docs/errors.md cite tests by file::name."""
    with open(ERRORS_DOC, encoding='utf-8') as f:
        cited = re.findall(r'`((?:[\w/]+/)?(test_\w+\.py))(?:::(\w+))?`',
                           f.read())
    assert cited
    tests = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    for path, name, func in cited:
        found = [
            osp.join(root, name)
            for root, _, files in os.walk(tests)
            if name in files
        ]
        assert found, f'docs/errors.md cites {path}, which does not exist'
        if func:
            with open(found[0], encoding='utf-8') as f:
                assert f'def {func}(' in f.read(), f'{path}::{func}'


if __name__ == '__main__':
    print(HEADER)
    print('\n'.join(table_rows()))
