import math

import torch

from utils.generalisation import (deep_mlp, finite_class_bound, min_norm_least_squares, random_relu_features, vc_bound,
                                  weight_gradient_norms)


def test_finite_class_bound_holds_for_coin_flips_by_monte_carlo():
    # |H| = 1 coin with bias 0.3: the deviation of the mean of n flips exceeds the bound with probability ≤ δ
    n, delta = 200, 0.1
    flips = torch.rand(20_000, n, generator=torch.Generator().manual_seed(0)) < 0.3
    deviations = (flips.float().mean(1) - 0.3).abs()
    assert (deviations > finite_class_bound(n, 0.0, delta)).float().mean() <= delta
    assert math.isclose(finite_class_bound(50, math.log(10), 0.05), math.sqrt((math.log(10) + math.log(40)) / 100))


def test_vc_bound_shrinks_with_n_and_is_infinite_below_the_vc_dimension():
    assert vc_bound(100, 785) == math.inf
    assert vc_bound(60_000, 785) > vc_bound(600_000, 785) > 0


def test_min_norm_least_squares_interpolates_with_the_smallest_norm():
    x = torch.randn(20, 5, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    features, y = random_relu_features(x, 50, seed=0), torch.randn(20, 1, dtype=torch.float64)
    beta = min_norm_least_squares(features, y)
    torch.testing.assert_close(features @ beta, y, rtol=0, atol=1e-10)
    null = torch.linalg.svd(features).Vh[20:]  # directions that do not change the fit
    other = beta + null[:1].T
    assert other.norm() > beta.norm()
    torch.testing.assert_close(random_relu_features(x, 50, seed=0), features)


def test_deep_mlp_variants_differ_only_by_the_skips():
    torch.manual_seed(0)
    plain, residual = deep_mlp(10, 8, 3, 4, residual=False), deep_mlp(10, 8, 3, 4, residual=True)
    residual.load_state_dict(plain.state_dict())
    x, y = torch.randn(16, 10), torch.randint(0, 4, (16,))
    assert len(weight_gradient_norms(plain, x, y)) == 2 * 3 + 2
    for block in residual[2:-1]:
        torch.nn.init.zeros_(block.branch[4].weight)  # a zero branch makes a residual block relu(x) = x for x ≥ 0
    h = residual[:2](x)
    torch.testing.assert_close(residual[2:-1](h), h)
