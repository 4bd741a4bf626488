import random

import numpy as np
import torch

from utils.reproducibility import seed_everything


def draw():
    model = torch.nn.Sequential(torch.nn.Linear(5, 7), torch.nn.Dropout(0.5), torch.nn.Linear(7, 1))
    out = model(torch.randn(4, 5))
    return random.random(), np.random.rand(3), torch.rand(3), out.detach()


def test_seeding_gives_identical_numbers_twice():
    seed_everything(123)
    first = draw()
    seed_everything(123)
    second = draw()
    assert first[0] == second[0]
    np.testing.assert_array_equal(first[1], second[1])
    assert torch.equal(first[2], second[2]) and torch.equal(first[3], second[3])


def test_different_seeds_differ():
    seed_everything(1)
    a = torch.rand(5)
    seed_everything(2)
    assert not torch.equal(a, torch.rand(5))


def test_returned_generator_is_seeded():
    g1, g2 = seed_everything(7), seed_everything(7)
    assert torch.equal(torch.rand(4, generator=g1), torch.rand(4, generator=g2))
    assert torch.are_deterministic_algorithms_enabled()
