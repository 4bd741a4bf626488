import pytest
import torch
import torchvision

from utils.vision import PyTorchExampleNet, mnist_cnn, mnist_splits, pretrained_if_present, random_crop_flip, small_imagenet_cnn


def test_model_shapes_and_sizes():
    assert mnist_cnn(8)(torch.zeros(5, 1, 28, 28)).shape == (5, 10)
    assert PyTorchExampleNet()(torch.zeros(2, 1, 28, 28)).shape == (2, 10)
    # the classic example's published size: conv 320 + 18,496, fc 1,179,776 + 1,290
    assert sum(p.numel() for p in PyTorchExampleNet().parameters()) == 1_199_882
    for size in (64, 96, 160):
        assert small_imagenet_cnn(7)(torch.zeros(2, 3, size, size)).shape == (2, 7)


def test_random_crop_flip_moves_pixels_but_keeps_them():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(64, 3, 16, 16, generator=g)
    out = random_crop_flip(images, padding=2, generator=torch.Generator().manual_seed(1))
    assert out.shape == images.shape
    assert not torch.equal(out, images)
    # each output is a shifted (and maybe mirrored) copy: its central pixels appear in the original
    for original, augmented in zip(images[:8], out[:8]):
        centre = augmented[:, 6:10, 6:10]
        candidates = [original, original.flip(-1)]
        assert any((c.unfold(1, 4, 1).unfold(2, 4, 1) == centre[:, None, None]).all(0).all(-1).all(-1).any()
                   for c in candidates)
    again = random_crop_flip(images, padding=2, generator=torch.Generator().manual_seed(1))
    assert torch.equal(out, again)


def test_pretrained_weights_are_used_only_when_cached(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    weights = torchvision.models.AlexNet_Weights.IMAGENET1K_V1
    assert pretrained_if_present(torchvision.models.alexnet, weights) is None
    saved = torchvision.models.alexnet(weights=None).state_dict()
    (tmp_path / "checkpoints").mkdir()
    torch.save(saved, tmp_path / "checkpoints" / weights.url.rsplit("/", 1)[1])
    model = pretrained_if_present(torchvision.models.alexnet, weights)
    assert torch.equal(model.state_dict()["features.0.weight"], saved["features.0.weight"])


def test_mnist_splits_hold_out_the_last_training_digits(course_data):
    from utils.data import mnist_tensors

    splits = mnist_splits()
    x, y = mnist_tensors(train=True)
    assert [len(splits[name][0]) for name in ("train", "val", "test")] == [55_000, 5_000, 10_000]
    assert torch.equal(splits["val"][0], x[55_000:]) and torch.equal(splits["val"][1], y[55_000:])
    assert torch.equal(splits["train"][0], x[:55_000])
    assert len(mnist_splits(validation=100)["val"][0]) == 100
    with pytest.raises(ValueError, match="validation"):
        mnist_splits(validation=0)
