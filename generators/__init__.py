from generators.sd_images import SDJob, SDOutcome, generate_sd_images  # noqa: F401  (no torch import)
