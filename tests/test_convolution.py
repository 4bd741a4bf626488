import pytest
import torch
import torch.nn.functional as F

from utils.convolution import conv2d_loops, conv2d_unfold, max_pool2d_unfold

CASES = [(1, 1, 3, 1, 0), (3, 8, 5, 2, 2), (4, 2, 3, 3, 1), (2, 6, 1, 1, 0), (5, 3, 4, 2, 3)]


@pytest.mark.parametrize("version", [conv2d_loops, conv2d_unfold])
@pytest.mark.parametrize("c_in, c_out, k, stride, padding", CASES)
def test_convolution_equals_torch_in_float64(version, c_in, c_out, k, stride, padding):
    g = torch.Generator().manual_seed(c_in * 100 + k)
    x = torch.randn(3, c_in, 12, 9, generator=g, dtype=torch.float64)
    weight = torch.randn(c_out, c_in, k, k, generator=g, dtype=torch.float64)
    bias = torch.randn(c_out, generator=g, dtype=torch.float64)
    for b in (bias, None):
        expected = F.conv2d(x, weight, b, stride=stride, padding=padding)
        assert torch.allclose(version(x, weight, b, stride=stride, padding=padding), expected, atol=1e-12, rtol=0)


def test_convolution_gradients_equal_torch():
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 3, 8, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, 3, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    ours = torch.autograd.grad(conv2d_unfold(x, w, padding=1).square().sum(), (x, w))
    theirs = torch.autograd.grad(F.conv2d(x, w, padding=1).square().sum(), (x, w))
    for a, b in zip(ours, theirs):
        assert torch.allclose(a, b, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kernel, stride", [(2, None), (3, 1), (3, 2), (2, 3)])
def test_max_pool_equals_torch(kernel, stride):
    x = torch.randn(2, 3, 11, 10, generator=torch.Generator().manual_seed(kernel), dtype=torch.float64)
    assert torch.equal(max_pool2d_unfold(x, kernel, stride), F.max_pool2d(x, kernel, stride or kernel))


def test_bad_shapes_are_explained():
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        conv2d_unfold(torch.zeros(3, 8, 8), torch.zeros(2, 3, 3, 3))
    with pytest.raises(ValueError, match="C_in=3"):
        conv2d_loops(torch.zeros(1, 3, 8, 8), torch.zeros(2, 4, 3, 3))
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_unfold(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 3, 3))
