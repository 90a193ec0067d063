"""Encoders and heads. An encoder takes float images in [0, 1] and returns [B, feature_dim]."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from contrastlab.core.spec import RunSpec

from .stream import Images, channel_stats

SMALL_CNN_WIDTHS = (32, 64, 128, 256)


class Encoder(nn.Module):
    """A backbone behind per-channel normalisation, kept as buffers so a checkpoint stands alone."""

    def __init__(self, backbone: nn.Module, feature_dim: int, in_channels: int) -> None:
        super().__init__()
        self.backbone = backbone
        self.feature_dim = feature_dim
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.full((1, in_channels, 1, 1), 0.5))
        self.register_buffer("std", torch.full((1, in_channels, 1, 1), 0.25))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.backbone((x - self.mean) / self.std)

    @torch.no_grad()
    def set_normalization(self, images: Images) -> None:
        """Per-channel mean and std of uint8 images [N, C, H, W] (in memory or streamed), fixed for the life
        of the model."""
        mean, std = channel_stats(images)
        self.mean.copy_(mean.view_as(self.mean))
        self.std.copy_(std.clamp_min(1e-3).view_as(self.std))


SMALL_STEM_MAX_SIZE = 64  # images this small lose too much to a stride-2 7x7 conv and a max-pool
RESNET_FEATURES = {"resnet18": 512, "resnet34": 512, "resnet50": 2048}


def build_encoder(spec: RunSpec, in_channels: int, image_size: int = 32) -> Encoder:
    """The spec's encoder for images of in_channels x image_size x image_size."""
    if spec.encoder == "small_cnn":
        return Encoder(small_cnn(in_channels), SMALL_CNN_WIDTHS[-1], in_channels)
    if spec.encoder in RESNET_FEATURES:
        backbone = resnet(spec.encoder, in_channels, small_stem=image_size <= SMALL_STEM_MAX_SIZE)
        return Encoder(backbone, RESNET_FEATURES[spec.encoder], in_channels)
    raise ValueError(f"unknown encoder {spec.encoder!r}")


def small_cnn(in_channels: int) -> nn.Sequential:
    """Four 3x3 conv-BN-ReLU blocks, halving the resolution between them, then global average pooling."""
    layers: list[nn.Module] = []
    channels = in_channels
    for i, width in enumerate(SMALL_CNN_WIDTHS):
        if i > 0:
            layers.append(nn.MaxPool2d(2))
        layers += [nn.Conv2d(channels, width, 3, padding=1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
        channels = width
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def resnet(name: str, in_channels: int, small_stem: bool) -> nn.Module:
    """torchvision ResNet without its classifier; the small stem is SimCLR's for CIFAR (3x3 stride-1 conv,
    no max-pool), the standard one a 7x7 stride-2 conv and a max-pool, either taking in_channels."""
    import torchvision.models

    net = getattr(torchvision.models, name)(weights=None)
    if small_stem:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    elif in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
    net.fc = nn.Identity()
    return net


@dataclass(frozen=True)
class MLPConfig:
    """An MLP head: (Linear-BN-ReLU) x (depth - 1), then Linear to out_dim (SimCLR's projector with depth 2)."""

    depth: int
    hidden_dim: int
    out_dim: int

    @classmethod
    def projector(cls, spec: RunSpec) -> MLPConfig:
        """The spec's projection head (projection_depth, projection_hidden_dim, projection_dim)."""
        return cls(spec.projection_depth, spec.projection_hidden_dim, spec.projection_dim)


def mlp(in_dim: int, config: MLPConfig, last_batchnorm: bool = False) -> nn.Sequential:
    """The MLP of config on in_dim inputs; last_batchnorm adds an affine-free BatchNorm after the last Linear
    (SimSiam's projector, Barlow Twins')."""
    layers: list[nn.Module] = []
    width = in_dim
    for _ in range(config.depth - 1):
        layers += [nn.Linear(width, config.hidden_dim, bias=False), nn.BatchNorm1d(config.hidden_dim),
                   nn.ReLU(inplace=True)]
        width = config.hidden_dim
    layers.append(nn.Linear(width, config.out_dim, bias=not last_batchnorm))
    if last_batchnorm:
        layers.append(nn.BatchNorm1d(config.out_dim, affine=False))
    return nn.Sequential(*layers)


def build_projection_head(spec: RunSpec, feature_dim: int) -> nn.Sequential:
    """SimCLR's MLP head: (Linear-BN-ReLU) x (depth - 1), then Linear to projection_dim."""
    return mlp(feature_dim, MLPConfig.projector(spec))
