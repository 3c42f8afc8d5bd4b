"""The generator's defaults: read from the configs that publish them, the
same as mmakd's recipes build, and docs/tools.md's table of them current."""
from pathlib import Path

import pytest
from mmengine.config import Config

from mmakd.config_gen.methods import METHODS, defaults_table, short

REPO = Path(__file__).resolve().parents[2]
TOOLS_DOC = REPO / 'docs' / 'tools.md'


def test_tools_doc_holds_the_current_defaults_table():
    assert defaults_table() in TOOLS_DOC.read_text(), (
        'docs/tools.md is out of date; replace its --method table with '
        '`python -c "from mmakd.config_gen.methods import defaults_table; '
        'print(defaults_table())"`')


@pytest.mark.parametrize('recipe,method,where,two_stage', [
    ('fgd/fgd_fpn_retina-r101_retina-r50_2x_coco.py', 'fgd', 'neck', False),
    ('fgd/fgd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py', 'fgd',
     'neck', True),
    ('cwd/cwd_logits_deeplabv3plus-r101-d8_deeplabv3plus-r18-d8_4xb2-80k_'
     'cityscapes-512x1024.py', 'cwd', 'logits', False),
    ('cwd/cwd_fpn_retina-r101_retina-r50_2x_coco.py', 'cwd', 'neck', False),
    ('pkd/pkd_fpn_faster-rcnn-r101_faster-rcnn-r50_2x_coco.py', 'pkd', 'neck',
     True),
    ('mgd/mgd_fpn_retina-x101_retina-r50_2x_coco.py', 'mgd', 'neck', False),
])
def test_defaults_are_what_the_recipes_build(recipe, method, where,
                                             two_stage):
    """The generator's published values and mmakd's recipes' are one."""
    distiller = Config.fromfile(str(REPO / 'configs' / recipe)).to_dict()[
        'model']['distiller']
    written = next(iter(distiller['distill_losses'].values()))
    generated = METHODS[method].loss(where, two_stage)
    generated.pop('resize_stu', None)  # the generator's own (PKD)
    weight_key = METHODS[method].weight_key
    if weight_key not in written:  # FGD: the loss's default
        generated.pop(weight_key)
    written.pop('in_channels', None)  # per pair
    assert generated == written


@pytest.mark.parametrize('value,text', [(0.00002, '2e-5'), (10, '10'),
                                        (0.65, '0.65'), (1.0, '1'),
                                        (True, 'True'), (5e-07, '5e-7')])
def test_values_are_written_as_the_comments_give_them(value, text):
    assert short(value) == text
