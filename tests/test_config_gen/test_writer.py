"""The written config: AKD's hooks, as configs/_base_/akd.py has them, after
the student's own."""
import pytest

from mmakd.config_gen import writer
from mmakd.utils import load_config


def render(akd: bool, student_hooks: bool) -> str:
    return writer.render(
        'cmd', 't.py', 's.py', 'out/recipe.py', 'mmdet',
        'MMAKDSingleTeacherDistill', dict(type='ConfigurableDistiller'),
        'somewhere', [], None, akd=akd, student_hooks=student_hooks)


@pytest.mark.parametrize('student_hooks', [False, True])
def test_akd_hooks_follow_the_students(student_hooks):
    text = render(True, student_hooks)
    base = render(False, student_hooks)
    assert text.startswith(base)  # appended, nothing else changes
    added = text[len(base):]
    assert ('_base_.custom_hooks + [' in added) == student_hooks
    # Written out (any train.py reads them), equal to mmakd's own list.
    assert 'mmakd::' not in added.replace(writer.AKD_HOOKS_CONFIG, '')
    written = eval(added.split('custom_hooks = ')[1].split(' + ')[-1])
    assert written == load_config(writer.AKD_HOOKS_CONFIG).akd_hooks


def test_without_akd_nothing_of_akd_is_written():
    text = render(False, True)
    assert "_base_ = '../s.py'" in text
    assert 'akd' not in text.lower().replace('mmakd', '')
