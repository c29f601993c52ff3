"""`grid`: every picture as a numbered tile of one grid (CS-DJ's composite of query and
distractor images). Each cell is a number strip above a square tile; the picture is scaled to
fit the tile and centred on white. The tiles' boxes are recorded so a check can read them."""

from __future__ import annotations

from PIL import Image, ImageDraw

from typography.errors import TypographyError
from typography.fonts import load_font, resolve_font
from typography.ops.base import Picture, merged, op

LABEL_FONT = "dejavu-sans-bold"


@op("grid")
def grid(
    pictures: list[Picture], *, columns: int = 3, tile: int = 320, label: int = 36, gap: int = 8
) -> list[Picture]:
    """Lay all pictures out in order as numbered square tiles, `columns` per row."""
    if not pictures or columns < 1 or tile < 16:
        raise TypographyError("grid needs pictures, columns >= 1 and tile >= 16 px")
    rows = -(-len(pictures) // columns)
    cell_w, cell_h = tile + gap, label + tile + gap
    canvas = Image.new("RGB", (columns * cell_w + gap, rows * cell_h + gap), "white")
    draw = ImageDraw.Draw(canvas)
    font = resolve_font(LABEL_FONT)
    face = load_font(font.path, font.index, round(label * 0.8))
    boxes = []
    for number, picture in enumerate(pictures, start=1):
        row, column = divmod(number - 1, columns)
        x, y = gap + column * cell_w, gap + row * cell_h
        draw.text((x, y), str(number), fill="black", font=face)
        image = picture.image.convert("RGB")
        image.thumbnail((tile, tile), Image.Resampling.LANCZOS)
        left = x + (tile - image.width) // 2
        top = y + label + (tile - image.height) // 2
        canvas.paste(image, (left, top))
        boxes.append([left, top, left + image.width, top + image.height])
    texts = [p.text for p in pictures]
    meta = {
        "grid_columns": columns,
        "grid_tile": tile,
        "tile_boxes": boxes,
        "tile_texts": texts,
    }
    drawn = merged(pictures, canvas, " ".join(t for t in texts if t), meta)
    if font not in drawn.fonts:
        drawn.fonts.append(font)
    return [drawn]


@op("tiles")
def tiles(pictures: list[Picture], *, numbers: list[int]) -> list[Picture]:
    """The tiles `numbers` (1-based) of a grid picture, cut out as pictures of their own."""
    picture = pictures[-1]
    boxes = picture.meta.get("tile_boxes")
    if not boxes:
        raise TypographyError("tiles needs a grid picture (one with tile_boxes)")
    texts = picture.meta.get("tile_texts", [""] * len(boxes))
    return [
        Picture(image=picture.image.crop(tuple(boxes[n - 1])), text=texts[n - 1]) for n in numbers
    ]
