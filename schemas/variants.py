"""The image variants a sample can take, and which text goes with each image."""

from typing import Literal, get_args

Variant = Literal["text_only", "typo", "sd", "sd_typo", "figstep", "figstep_pro", "natural"]
ALL_VARIANTS: tuple[Variant, ...] = get_args(Variant)
# Variants that need an image model (Stable Diffusion); the rest render offline.
SD_VARIANTS: frozenset[str] = frozenset({"sd", "sd_typo"})
# Variants whose image shows the key phrase as typography.
TYPOGRAPHY_VARIANTS: frozenset[str] = frozenset({"typo", "sd_typo", "figstep", "figstep_pro"})
# Variants whose image comes from an existing collection (config `collection`), with questions
# written about that image rather than from the taxonomy alone.
COLLECTION_VARIANTS: frozenset[str] = frozenset({"natural"})
