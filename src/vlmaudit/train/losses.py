"""Contrastive losses on L2-normalised embeddings, with optional hard-negative columns.

Hard negatives follow NegCLIP's layout: the similarity matrix is images x (captions + negative
captions), the image->text softmax runs over the B positives plus every extra negative column,
and the text->image softmax runs over the B images only (a negative caption has no image to find).
Negative images are the mirror image: text->image gets the extra columns, image->text does not.
Negatives are shared columns (any count), so row i also competes against row j's negatives, as in
NegCLIP's batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def clip_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    logit_scale: torch.Tensor,
    neg_text: torch.Tensor | None = None,
    neg_image: torch.Tensor | None = None,
) -> torch.Tensor:
    """Symmetric InfoNCE. image/text: [B, D] normalised, row i matches row i; scale is exp'd already.

    neg_text: [Kt, D] extra caption columns for image->text; neg_image: [Ki, D] extra image columns
    for text->image. Returns the mean of the two cross-entropies (fp32).
    """
    image, text = image.float(), text.float()
    targets = torch.arange(image.shape[0], device=image.device)
    texts = text if neg_text is None else torch.cat([text, neg_text.float()])
    images = image if neg_image is None else torch.cat([image, neg_image.float()])
    i2t = logit_scale * image @ texts.T
    t2i = logit_scale * text @ images.T
    return (F.cross_entropy(i2t, targets) + F.cross_entropy(t2i, targets)) / 2


def sigmoid_loss(
    image: torch.Tensor,
    text: torch.Tensor,
    logit_scale: torch.Tensor,
    logit_bias: torch.Tensor,
    neg_text: torch.Tensor | None = None,
    neg_image: torch.Tensor | None = None,
) -> torch.Tensor:
    """SigLIP: every (image, text) pair is an independent binary problem, +1 on the diagonal.

    Extra negative columns/rows are pairs labelled -1 against every image/text of the batch.
    Normalised like the paper: summed over pairs, divided by the batch size B.
    """
    image, text = image.float(), text.float()
    b = image.shape[0]
    logits = logit_scale * image @ text.T + logit_bias
    labels = 2 * torch.eye(b, device=image.device) - 1
    total = -F.logsigmoid(labels * logits).sum()
    if neg_text is not None:
        total = total - F.logsigmoid(-(logit_scale * image @ neg_text.float().T + logit_bias)).sum()
    if neg_image is not None:
        total = total - F.logsigmoid(-(logit_scale * text @ neg_image.float().T + logit_bias)).sum()
    return total / b


LOSSES = ("clip", "sigmoid")
