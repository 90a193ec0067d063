"""DINO: self-distillation with no labels, a cross-entropy between a centred, sharpened teacher and the student."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from .base import in_fp32


@in_fp32
def dino(student: Tensor, teacher: Tensor, center: Tensor, student_temperature: float = 0.1,
         teacher_temperature: float = 0.04) -> Tensor:
    """Mean over view pairs (t, s), t != s, of H(P_t(teacher), P_s(student)), each averaged over the batch.

    Caron et al. (2021), "Emerging Properties in Self-Supervised Vision Transformers", eq. (3) and
    Algorithm 1. student [S, B, K] holds the student's outputs on every crop (the 2 global crops
    first, then the small ones); teacher [T, B, K] the teacher's outputs on the T global crops, which
    are student views 0..T-1, so a pair of the same crop is left out. The teacher is centred
    (center [K]) and sharpened (softmax at teacher_temperature, paper 0.04 after a warm-up from 0.04
    to 0.07 in the code's schedule); the student's softmax runs at student_temperature (0.1). The
    teacher gets no gradient.
    """
    n_teacher, n_student = teacher.shape[0], student.shape[0]
    if n_teacher * n_student - min(n_teacher, n_student) == 0:
        raise ValueError("DINO needs at least two crops: a teacher crop and another student crop")
    targets = F.softmax((teacher.detach() - center.detach()) / teacher_temperature, dim=-1)
    log_probs = F.log_softmax(student / student_temperature, dim=-1)
    cross_entropy = -torch.einsum("tbk,sbk->ts", targets, log_probs) / student.shape[1]
    same_crop = torch.eye(n_teacher, n_student, dtype=torch.bool, device=student.device)
    return cross_entropy[~same_crop].mean()


@torch.no_grad()
def next_center(center: Tensor, batch_center: Tensor, momentum: float = 0.9) -> Tensor:
    """The teacher centre's moving average: momentum * center + (1 - momentum) * batch_center.

    DINO eq. (4); batch_center is the mean of the teacher's outputs over its crops and the batch,
    averaged over all devices in a multi-device run (the caller all-reduces it). Paper momentum 0.9.
    """
    return center * momentum + batch_center * (1 - momentum)
