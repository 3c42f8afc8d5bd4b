"""CPU thread defaults: one intra-op thread unless the user chose."""
import pytest
import torch

from mmakd.utils import default_cpu_threads


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_one_thread_unless_omp_num_threads_is_set(monkeypatch,
                                                  restore_threads):
    monkeypatch.delenv('OMP_NUM_THREADS', raising=False)
    torch.set_num_threads(2)
    assert default_cpu_threads() == 1
    assert torch.get_num_threads() == 1
    torch.set_num_threads(2)
    monkeypatch.setenv('OMP_NUM_THREADS', '2')
    assert default_cpu_threads() is None
    assert torch.get_num_threads() == 2


@pytest.mark.parametrize('bad', [0, -1, 1.5, True, '1'])
def test_a_bad_thread_count_is_an_error(bad):
    with pytest.raises(ValueError, match='`num_threads` must be an int'):
        default_cpu_threads(bad)
