"""product_flops, the helper ps2_matmul's hidden tests use to see that a convolution ran as matrix products."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlparallel.grading.checks import OpCall, product_flops, record_ops


def test_product_flops_counts_every_kind_of_matrix_product():
    a, b, v = torch.randn(4, 3), torch.randn(3, 5), torch.randn(3)
    with record_ops() as calls:
        a @ b                                        # mm: 2 * 4 * 3 * 5 = 120
        torch.randn(2, 4, 3) @ torch.randn(2, 3, 5)  # bmm: 240
        F.linear(a, b.T, torch.zeros(5))             # addmm: 120
        torch.einsum("ij,jk->ik", a, b)              # einsum runs a bmm: 120
        a @ v                                        # mv: 24
        v @ v                                        # dot: 6
    assert product_flops(calls) == 120 + 240 + 120 + 120 + 24 + 6


def test_product_flops_ignores_elementwise_work_and_empty_products():
    a = torch.randn(6, 6)
    with record_ops() as calls:
        (a[:, :, None] * a[None, :, :]).sum(1)       # a product by broadcasting: no matrix product
        torch.randn(0, 6) @ a                        # an empty product: 0 FLOPs
    assert product_flops(calls) == 0


def test_product_flops_reads_the_last_two_operands():
    calls = [OpCall("addmm", ((7,), (5, 6), (6, 7)), False), OpCall("mul", ((9, 9), (9, 9)), False),
             OpCall("baddbmm", ((2, 5, 7), (2, 5, 6), (2, 6, 7)), False)]
    assert product_flops(calls) == 2 * 5 * 6 * 7 + 2 * 2 * 5 * 6 * 7
