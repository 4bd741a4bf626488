"""utils.optim must follow torch.optim step for step (float64)."""
import pytest
import torch

from utils import optim


def problem(seed=0):
    """A small least-squares problem with two parameter tensors (two param groups possible)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(40, 5, generator=g, dtype=torch.float64)
    y = torch.randn(40, 3, generator=g, dtype=torch.float64)
    w = torch.randn(5, 3, generator=g, dtype=torch.float64)
    b = torch.randn(3, generator=g, dtype=torch.float64)
    return x, y, w, b


def trajectory(make_optimizer, steps=60, groups=False):
    x, y, w, b = problem()
    w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    params = [{"params": [w]}, {"params": [b], "lr": 0.01}] if groups else [w, b]
    opt = make_optimizer(params)
    path = []
    for _ in range(steps):
        opt.zero_grad()
        loss = ((torch.tanh(x @ w + b) - y) ** 2).mean()
        loss.backward()
        opt.step()
        path.append(torch.cat([w.detach().flatten(), b.detach().flatten()]).clone())
    return torch.stack(path)


@pytest.mark.parametrize("lr, momentum, nesterov", [(0.1, 0.0, False), (0.05, 0.9, False), (0.05, 0.9, True),
                                                    (0.3, 0.5, True)])
@pytest.mark.parametrize("groups", [False, True])
def test_sgd_matches_torch(lr, momentum, nesterov, groups):
    ours = trajectory(lambda p: optim.SGD(p, lr=lr, momentum=momentum, nesterov=nesterov), groups=groups)
    ref = trajectory(lambda p: torch.optim.SGD(p, lr=lr, momentum=momentum, nesterov=nesterov), groups=groups)
    assert not torch.equal(ours[0], ours[-1])  # it moved
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert (ours - ref).abs().max() < 1e-12


@pytest.mark.parametrize("lr, eps", [(0.1, 1e-10), (0.5, 1e-6)])
@pytest.mark.parametrize("groups", [False, True])
def test_adagrad_matches_torch(lr, eps, groups):
    ours = trajectory(lambda p: optim.AdaGrad(p, lr=lr, eps=eps), groups=groups)
    ref = trajectory(lambda p: torch.optim.Adagrad(p, lr=lr, eps=eps), groups=groups)
    assert not torch.equal(ours[0], ours[-1])
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-6)
    assert (ours - ref).abs().max() < 1e-12


def test_state_dict_round_trip_continues_identically():
    """Checkpointing (utils.training) relies on the optimiser state surviving state_dict()."""
    full = trajectory(lambda p: optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True), steps=20)
    x, y, w, b = problem()
    w, b = w.clone().requires_grad_(True), b.clone().requires_grad_(True)
    opt = optim.SGD([w, b], lr=0.05, momentum=0.9, nesterov=True)

    def step():
        opt.zero_grad()
        ((torch.tanh(x @ w + b) - y) ** 2).mean().backward()
        opt.step()
    for _ in range(10):
        step()
    saved = opt.state_dict()
    opt = optim.SGD([w, b], lr=0.05, momentum=0.9, nesterov=True)
    opt.load_state_dict(saved)
    for _ in range(10):
        step()
    assert torch.equal(torch.cat([w.detach().flatten(), b.detach().flatten()]), full[-1])


def test_bad_arguments():
    p = [torch.zeros(2, requires_grad=True)]
    with pytest.raises(ValueError, match="lr must be positive"):
        optim.SGD(p, lr=0)
    with pytest.raises(ValueError, match="nesterov=True needs a positive momentum"):
        optim.SGD(p, lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="lr must be positive"):
        optim.AdaGrad(p, lr=-1)


def test_narrow_valley_minima_and_curvatures():
    from torch.func import hessian

    from utils.optim import narrow_valley

    minima = {(1.0, 2.0): (14 - 180 ** 0.5, 14 + 180 ** 0.5), (-1.0, 0.0): (6 - 20 ** 0.5, 6 + 20 ** 0.5)}
    for point, eigenvalues in minima.items():
        x = torch.tensor(point, dtype=torch.float64)
        assert narrow_valley(x) == 0
        computed = torch.linalg.eigvalsh(hessian(narrow_valley)(x))
        torch.testing.assert_close(computed, torch.tensor(eigenvalues, dtype=torch.float64), rtol=0, atol=1e-12)
    assert narrow_valley(torch.zeros(5, 3, 2)).shape == (5, 3)
