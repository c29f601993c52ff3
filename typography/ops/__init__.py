"""Registered image operations (one module each) and the recipe runner."""

from typography.ops import (
    alpha,
    blend,
    cutmix,
    flatten,
    grid,
    mirror,
    noise,
    qr,
    region,
    resize,
    rotate,
    rows,
    split,
    stack,
    text,
)
from typography.ops.base import OPS, OpInfo, Picture, op, prepare, run_chain

__all__ = [
    "OPS",
    "OpInfo",
    "Picture",
    "alpha",
    "blend",
    "cutmix",
    "flatten",
    "grid",
    "mirror",
    "noise",
    "op",
    "prepare",
    "qr",
    "region",
    "resize",
    "rotate",
    "rows",
    "run_chain",
    "split",
    "stack",
    "text",
]
