"""The written config: AKD's hooks after the student's own."""
import pytest

from mmakd.config_gen import writer


@pytest.mark.parametrize('student_hooks, expected', [
    (False, 'custom_hooks = _base_.akd_hooks'),
    (True, 'custom_hooks = _base_.custom_hooks + _base_.akd_hooks'),
])
def test_akd_hooks_follow_the_students(student_hooks, expected):
    text = writer.render(
        'cmd', 't.py', 's.py', 'out/akd.py', 'mmdet',
        'MMAKDSingleTeacherDistill', dict(type='ConfigurableDistiller'),
        'somewhere', [], None, akd=True, student_hooks=student_hooks)
    assert f"_base_ = ['../s.py', {writer.AKD_HOOKS_BASE!r}]" in text
    assert text.splitlines()[-1].startswith(expected)


def test_without_akd_nothing_of_akd_is_written():
    text = writer.render(
        'cmd', 't.py', 's.py', 'out/cwd.py', 'mmdet',
        'MMAKDSingleTeacherDistill', dict(type='ConfigurableDistiller'),
        'somewhere', [], None, akd=False, student_hooks=True)
    assert "_base_ = '../s.py'" in text
    assert 'akd' not in text.lower().replace('mmakd', '')
