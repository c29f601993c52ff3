"""Registered image operations (one module each) and the recipe runner."""

from typography.ops import split, stack, text
from typography.ops.base import OPS, OpInfo, Picture, op, run_chain

__all__ = ["OPS", "OpInfo", "Picture", "op", "run_chain", "split", "stack", "text"]
