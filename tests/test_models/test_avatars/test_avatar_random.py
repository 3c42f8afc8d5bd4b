"""AvatarRandom: the Avatars' own streams, keyed on seed, rank and step."""
import copy
import pickle

import pytest
import torch

from mmakd.models import AvatarGenerator
from mmakd.models.avatars import avatar_random
from mmakd.models.avatars.avatar_random import AvatarRandom, stream_seed


def draw(random: AvatarRandom, step: int, n: int = 8) -> torch.Tensor:
    return random.draws('cpu', step).uniform((n, ))


def test_stream_seed_depends_on_each_of_its_parts():
    keys = [(0, 0, 0, ''), (1, 0, 0, ''), (0, 1, 0, ''), (0, 0, 1, ''),
            (0, 0, 0, 'a')]
    seeds = {stream_seed(*key) for key in keys}
    assert len(seeds) == 5
    assert stream_seed(3, 1, 7, 'x') == stream_seed(3, 1, 7, 'x')
    assert all(0 <= seed < 2**63 for seed in seeds)


def test_a_step_is_drawn_again_whatever_came_before():
    torch.manual_seed(0)
    first, other = AvatarRandom(), AvatarRandom()
    at_3 = draw(first, 3)
    draw(other, 0)
    draw(other, 1)
    assert torch.equal(draw(other, 3), at_3)


def test_calls_in_one_step_continue_its_stream():
    random = AvatarRandom()
    assert not torch.equal(draw(random, 0), draw(random, 0))


def test_the_run_seed_rank_and_stream_name_select_the_draws(monkeypatch):
    torch.manual_seed(0)
    base = draw(AvatarRandom(), 0)
    torch.manual_seed(1)
    assert not torch.equal(draw(AvatarRandom(), 0), base)
    torch.manual_seed(0)
    assert not torch.equal(draw(AvatarRandom('loss'), 0), base)
    monkeypatch.setattr(avatar_random, 'get_rank', lambda: 1)
    assert not torch.equal(draw(AvatarRandom(), 0), base)


def test_torchs_global_stream_is_left_alone():
    gen = AvatarGenerator(
        perturbation=[dict(type='ElementDropout', p=0.3),
                      dict(type='GaussianNoise', std=0.1)])
    feat = torch.randn(2, 4, 3, 3)
    before = torch.get_rng_state()
    gen(feat, step=5)
    gen([feat, feat])
    assert torch.equal(torch.get_rng_state(), before)


def test_copies_and_pickles_draw_the_same_numbers():
    random = AvatarRandom('distiller').manual_seed(4)
    draw(random, 0)  # a used stream: its copies start afresh
    for twin in (copy.deepcopy(random), pickle.loads(pickle.dumps(random))):
        assert twin.stream == 'distiller'
        assert torch.equal(draw(twin, 2), draw(AvatarRandom(
            'distiller').manual_seed(4), 2))


def test_manual_seed_restarts_the_call_count():
    gen = AvatarGenerator(num_avatars=2).manual_seed(9)
    feat = torch.randn(2, 4, 3, 3)
    first = [gen(feat), gen(feat)]
    gen.manual_seed(9)
    again = [gen(feat), gen(feat)]
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    assert gen.random.last_step == 1


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_one_generator_per_device():
    random = AvatarRandom()
    for device in ('cuda', 'cpu'):
        draws = random.draws(device, 0)
        for values in (draws.uniform((3, 4)), draws.normal((3, 4))):
            assert values.device.type == device
            assert values.dtype == torch.float32


def test_cpu_draws_are_uniform_and_normal():
    draws = AvatarRandom().manual_seed(0).draws('cpu', 0)
    uniform, normal = draws.uniform((200, 500)), draws.normal((200, 500))
    assert 0 <= float(uniform.min()) and float(uniform.max()) < 1
    assert abs(float(uniform.mean()) - 0.5) < 0.01
    assert abs(float(normal.mean())) < 0.01
    assert abs(float(normal.std()) - 1) < 0.01
