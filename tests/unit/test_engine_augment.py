"""Batched augmentation: shapes, per-image draws, seeding, and the off switch."""

import torch

from contrastlab.core.spec import RunSpec
from worker.engine.augment import augment, brightness_contrast


def _images(n: int = 8, channels: int = 1, size: int = 16) -> torch.Tensor:
    return torch.randint(0, 256, (n, channels, size, size), generator=torch.Generator().manual_seed(1),
                         dtype=torch.uint8)


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_views_keep_shape_and_lie_in_unit_range():
    for channels in (1, 3):
        images = _images(channels=channels)
        views = augment(images, RunSpec(), _generator())
        assert views.shape == images.shape and views.dtype == torch.float32
        assert views.min() >= 0 and views.max() <= 1


def test_each_image_gets_its_own_draw():
    one = _images(1)
    views = augment(one.repeat(2, 1, 1, 1), RunSpec(), _generator())
    assert not torch.allclose(views[0], views[1])


def test_same_seed_same_views_other_seed_other_views():
    images, spec = _images(), RunSpec()
    assert torch.equal(augment(images, spec, _generator(3)), augment(images, spec, _generator(3)))
    assert not torch.equal(augment(images, spec, _generator(3)), augment(images, spec, _generator(4)))


def test_augment_off_is_the_identity():
    images = _images()
    views = augment(images, RunSpec(augment=False), _generator())
    assert torch.equal(views, images.float() / 255)


def test_jitter_of_strength_zero_changes_nothing():
    x = _images().float() / 255
    assert torch.allclose(brightness_contrast(x, _generator(), strength=0.0, prob=1.0), x, atol=1e-6)


def test_full_crop_without_flip_or_jitter_is_close_to_the_image():
    # Area 1 leaves only the aspect-ratio stretch, which on a smooth image moves pixels a little.
    ramp = torch.linspace(0, 255, 16).round().to(torch.uint8).view(1, 1, 1, 16).expand(4, 1, 16, 16)
    spec = RunSpec(crop_scale_min=1.0, flip_prob=0.0, jitter_prob=0.0)
    views = augment(ramp.contiguous(), spec, _generator())
    assert (views - ramp.float() / 255).abs().mean() < 0.05


def test_flip_mirrors_the_image():
    ramp = torch.linspace(0, 255, 16).round().to(torch.uint8).view(1, 1, 1, 16).expand(4, 1, 16, 16)
    spec = RunSpec(crop_scale_min=1.0, flip_prob=1.0, jitter_prob=0.0)
    views = augment(ramp.contiguous(), spec, _generator())
    # A left-to-right ramp comes out right-to-left.
    assert (views[..., 0] > views[..., -1]).all()


def test_colour_pipeline_on_rgb_draws_per_image_and_keeps_the_range():
    images = _images(6, channels=3, size=32)
    spec = RunSpec(jitter_prob=1.0, jitter_strength=0.8, grayscale_prob=0.5, blur_prob=1.0)
    views = augment(images.repeat(2, 1, 1, 1), spec, _generator())
    assert views.shape == (12, 3, 32, 32) and views.min() >= 0 and views.max() <= 1
    assert not torch.allclose(views[:6], views[6:])
    assert torch.equal(views, augment(images.repeat(2, 1, 1, 1), spec, _generator()))


def test_grayscale_always_gives_equal_channels_and_never_leaves_colour():
    from worker.engine.augment import random_grayscale

    x = _images(4, channels=3).float() / 255
    grey = random_grayscale(x, _generator(), prob=1.0)
    assert torch.allclose(grey[:, 0], grey[:, 1]) and torch.allclose(grey[:, 1], grey[:, 2])
    assert torch.equal(random_grayscale(x, _generator(), prob=0.0), x)


def test_blur_smooths_and_hue_saturation_identity_at_zero_strength():
    from worker.engine.augment import colour_jitter, gaussian_blur

    x = _images(4, channels=3, size=32).float() / 255
    blurred = gaussian_blur(x, _generator(), prob=1.0, sigma_range=(2.0, 2.0))
    assert blurred.diff(dim=-1).abs().mean() < 0.5 * x.diff(dim=-1).abs().mean()
    assert torch.allclose(colour_jitter(x, _generator(), strength=0.0, prob=1.0), x, atol=1e-6)
    jittered = colour_jitter(x, _generator(), strength=0.5, prob=1.0)
    assert not torch.allclose(jittered, x, atol=1e-3)
