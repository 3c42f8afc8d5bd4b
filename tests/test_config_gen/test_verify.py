"""The verification step: a failure names the stage, the module and what
to change."""
import os.path as osp
import re

import pytest
from helpers import REPO_ROOT

from mmakd.config_gen import VerificationError, generate_config, verify_config

DIGITS = osp.join(REPO_ROOT, 'projects', 'digit_scenes', 'configs')
DET_T = osp.join(DIGITS, 'retinanet_r18-w32_fpn_1500i_digit-scenes.py')
DET_S = osp.join(DIGITS, 'retinanet_r18-w8_fpn_1500i_digit-scenes.py')


def test_a_failure_names_the_stage_the_module_and_the_change(tmp_path):
    out = tmp_path / 'cwd.py'
    done = generate_config(DET_T, DET_S, 'cwd', str(out),
                           where='backbone')
    assert done.verify_seconds is not None and done.verify_seconds > 0
    # Without the student's channel connectors, CWD compares 8 student
    # channels with 32 teacher channels.
    text = re.sub(r",\s*connector='s_\w+'", '', out.read_text())
    assert text != out.read_text()
    with pytest.raises(VerificationError) as err:
        verify_config(lambda path: text, 'det', (64, 64))
    message = str(err.value)
    assert 'failed at the forward stage' in message
    assert re.search(r"in module 'distiller\.distill_losses\."
                     r"loss_cwd_backbone\d' \(ChannelWiseDivergence\)",
                     message), message
    assert 'the paired outputs differ in shape' in message
    assert 'Nothing was written' in message


def test_a_config_that_does_not_load_fails_at_the_load_stage():
    with pytest.raises(VerificationError,
                       match='failed at the load stage: NameError'):
        verify_config(lambda path: 'model = dict(x=undefined)\n', 'det',
                      (64, 64))
