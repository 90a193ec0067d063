"""Encoders and heads. An encoder takes float images in [0, 1] and returns [B, feature_dim]."""

from __future__ import annotations

import torch
from torch import nn

from worker.spec import RunSpec

from .losses import LOSSES

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
    def set_normalization(self, images: torch.Tensor) -> None:
        """Per-channel mean and std of uint8 images [N, C, H, W], fixed for the life of the model."""
        x = images.float().div_(255)
        self.mean.copy_(x.mean(dim=(0, 2, 3)).view_as(self.mean))
        self.std.copy_(x.std(dim=(0, 2, 3)).clamp_min(1e-3).view_as(self.std))


def build_encoder(spec: RunSpec, in_channels: int) -> Encoder:
    if spec.encoder == "small_cnn":
        return Encoder(small_cnn(in_channels), SMALL_CNN_WIDTHS[-1], in_channels)
    if spec.encoder == "resnet18":
        return Encoder(resnet18_small(in_channels), 512, in_channels)
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


def resnet18_small(in_channels: int) -> nn.Module:
    """torchvision ResNet-18 with the CIFAR stem: a 3x3 stride-1 conv and no max-pool, as SimCLR for 32px."""
    from torchvision.models import resnet18

    net = resnet18(weights=None)
    net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=3, stride=1, padding=1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    return net


def build_projection_head(spec: RunSpec, feature_dim: int) -> nn.Sequential:
    """SimCLR's MLP head: Linear-BN-ReLU-Linear."""
    hidden = spec.projection_hidden_dim
    return nn.Sequential(
        nn.Linear(feature_dim, hidden, bias=False),
        nn.BatchNorm1d(hidden),
        nn.ReLU(inplace=True),
        nn.Linear(hidden, spec.projection_dim),
    )


def build_head(spec: RunSpec, feature_dim: int, num_classes: int) -> nn.Module:
    """The head the method trains on top of the encoder: a projection MLP or a linear classifier."""
    if LOSSES[spec.method].head == "classifier":
        return nn.Linear(feature_dim, num_classes)
    return build_projection_head(spec, feature_dim)
