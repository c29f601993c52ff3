"""The one exception the typography package raises."""


class TypographyError(ValueError):
    """Text cannot be rendered as asked (bad characters, no font, does not fit) or a preset is
    unusable. The message says what and why, so it can be stored as a rejection reason."""
