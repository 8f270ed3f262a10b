"""Training data from ground truth: line crops, splits by page, the YOLO detection dataset.

Pages are drawn with PIL in ``tmp_path``; ``GtPage``s are built directly.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
import yaml
from PIL import Image, ImageDraw

from shared.groundtruth.model import GtLine, GtPage
from training import line_crops
from training.line_crops import background_colour, crop_line, line_samples, padded_box
from training.splits import split_by_page, validation_count
from training.yolo_dataset import EXIF_ORIENTATION, label_rows, write_yolo_dataset

PAPER = (235, 228, 214)
INK = (20, 20, 30)
# Line A: its own ink low in the box; the neighbour's descender pokes into the box's top right,
# which A's polygon leaves out.
A_BOX = (20, 40, 280, 80)
A_POLYGON = ((20.0, 40.0), (225.0, 40.0), (225.0, 58.0), (280.0, 58.0), (280.0, 80.0), (20.0, 80.0))
A_INK = (30, 62, 200, 75)
DESCENDER = (238, 40, 246, 54)


def synthetic_page() -> Image.Image:
    page = Image.new("RGB", (300, 200), PAPER)
    draw = ImageDraw.Draw(page)
    draw.rectangle(A_INK, fill=INK)
    draw.rectangle((200, 10, 246, 30), fill=INK)  # the neighbour's line above ...
    draw.rectangle(DESCENDER, fill=INK)  # ... and its descender
    return page


def line_a(polygon: tuple[tuple[float, float], ...] | None = A_POLYGON) -> GtLine:
    return GtLine(id="a", text="a", bbox=A_BOX, polygon=polygon)


def channels(pixel: float | tuple[int, ...] | None) -> tuple[float, ...]:
    assert pixel is not None
    return pixel if isinstance(pixel, tuple) else (pixel,)


def dark(pixel: float | tuple[int, ...] | None) -> bool:
    return max(channels(pixel)) < 100


def near(pixel: float | tuple[int, ...] | int | None, colour: tuple[int, ...]) -> bool:
    return all(abs(v - c) <= 3 for v, c in zip(channels(pixel), colour, strict=True))


# --- crops ---------------------------------------------------------------------------------


def test_box_crop_keeps_the_neighbours_stroke() -> None:
    crop = crop_line(synthetic_page(), line_a(), mode="box", pad=0)
    assert crop.size == (260, 40)
    assert dark(crop.getpixel((DESCENDER[0] + 2 - A_BOX[0], 45 - A_BOX[1])))
    assert dark(crop.getpixel((50 - A_BOX[0], 68 - A_BOX[1])))


def test_polygon_crop_paints_the_neighbours_stroke_away() -> None:
    crop = crop_line(synthetic_page(), line_a(), mode="polygon", pad=0)
    assert crop.size == (260, 40)
    for y in range(DESCENDER[1], DESCENDER[3] + 1):
        for x in range(DESCENDER[0], DESCENDER[2] + 1):
            assert near(crop.getpixel((x - A_BOX[0], y - A_BOX[1])), PAPER), (x, y)
    assert dark(crop.getpixel((50 - A_BOX[0], 68 - A_BOX[1])))  # the line's own ink stays


def test_polygon_mode_without_a_polygon_is_the_box() -> None:
    page = synthetic_page()
    plain = crop_line(page, line_a(polygon=None), mode="polygon", pad=2)
    assert plain.tobytes() == crop_line(page, line_a(), mode="box", pad=2).tobytes()


@pytest.mark.parametrize(
    ("bbox", "pad", "expected"),
    [
        ((20, 40, 280, 80), 4, (16, 36, 284, 84)),
        ((0, 0, 50, 20), 4, (0, 0, 54, 24)),
        ((250, 180, 300, 200), 10, (240, 170, 300, 200)),
    ],
)
def test_padded_box_is_clipped_to_the_image(
    bbox: tuple[int, int, int, int], pad: int, expected: tuple[int, int, int, int]
) -> None:
    assert padded_box(bbox, pad, (300, 200)) == expected


def test_a_box_outside_the_image_and_an_unknown_mode_are_refused() -> None:
    with pytest.raises(ValueError, match="outside"):
        padded_box((400, 10, 500, 20), 4, (300, 200))
    with pytest.raises(ValueError, match="mode"):
        crop_line(synthetic_page(), line_a(), mode="ellipse")


def test_background_colour_is_the_papers_not_the_inks() -> None:
    assert near(background_colour(synthetic_page()), PAPER)
    grey = Image.new("L", (50, 50), 200)
    ImageDraw.Draw(grey).rectangle((0, 0, 20, 49), fill=10)
    assert background_colour(grey) == 200


def test_greyscale_pages_give_greyscale_crops() -> None:
    crop = crop_line(synthetic_page().convert("L"), line_a(), mode="polygon", pad=0)
    assert crop.mode == "L"
    assert not dark(crop.getpixel((DESCENDER[0] + 2 - A_BOX[0], 45 - A_BOX[1])))


# --- samples from pages --------------------------------------------------------------------


def gt_page(
    root: Path, name: str, lines: tuple[GtLine, ...], size: tuple[int, int] = (300, 200)
) -> GtPage:
    image = root / "img" / f"{name}.png"
    image.parent.mkdir(parents=True, exist_ok=True)
    if not image.exists():
        Image.new("RGB", size, "white").save(image)
    return GtPage(
        source=root / "xml" / f"{name}.xml",
        image=image,
        width=size[0],
        height=size[1],
        lines=lines,
        format="page-2019-07-15",
    )


def test_line_samples_open_each_page_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = tuple(
        GtLine(id=f"l{i}", text=f"t{i}", bbox=(10, 10 + 30 * i, 100, 35 + 30 * i)) for i in range(3)
    )
    pages = [gt_page(tmp_path, "p1", lines), gt_page(tmp_path, "p2", lines[:1])]
    opened: list[Path] = []
    real_open = Image.open

    def counting_open(path: Path, *args: object, **kwargs: object) -> Image.Image:
        opened.append(Path(path))
        return real_open(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(line_crops.Image, "open", counting_open)
    samples = list(line_samples(pages, mode="box", pad=0, root=tmp_path))
    assert opened == [pages[0].image, pages[1].image]
    assert [(s.page_id, s.text, s.image.size) for s in samples] == [
        ("xml/p1.xml", "t0", (90, 25)),
        ("xml/p1.xml", "t1", (90, 25)),
        ("xml/p1.xml", "t2", (90, 25)),
        ("xml/p2.xml", "t0", (90, 25)),
    ]
    assert all(s.image.mode == "RGB" for s in samples)


def test_exif_orientation_is_not_applied(tmp_path: Path) -> None:
    """Ground-truth coordinates are in stored pixels: a rotated view would cut the wrong place."""
    stored = Image.new("RGB", (300, 200), "white")
    ImageDraw.Draw(stored).rectangle((200, 20, 280, 60), fill="black")
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6  # viewers turn it 90 degrees
    path = tmp_path / "rotated.jpg"
    stored.save(path, exif=exif, quality=95)
    line = GtLine(id="l", text="x", bbox=(200, 20, 280, 60))
    page = GtPage(path.with_suffix(".xml"), path, 300, 200, (line,), "alto-4")
    (sample,) = line_samples([page], mode="box", pad=0)
    assert sample.image.size == (80, 40)
    assert dark(sample.image.getpixel((40, 20)))


# --- splits --------------------------------------------------------------------------------

ITEMS = [(f"page{p:02d}", line) for p in range(20) for line in range(3)]


def page_of(item: tuple[str, int]) -> str:
    return item[0]


def test_split_is_deterministic_whatever_the_order() -> None:
    train, val = split_by_page(ITEMS, 0.2, seed=7, key=page_of)
    shuffled = ITEMS[:]
    random.Random(1).shuffle(shuffled)
    train2, val2 = split_by_page(shuffled, 0.2, seed=7, key=page_of)
    assert sorted(train) == sorted(train2) and sorted(val) == sorted(val2)
    assert (train, val) == split_by_page(ITEMS, 0.2, seed=7, key=page_of)
    assert {page_of(i) for i in val} != {
        page_of(i) for i in split_by_page(ITEMS, 0.2, 8, page_of)[1]
    }


def test_split_keeps_each_page_on_one_side_and_the_items_order() -> None:
    train, val = split_by_page(ITEMS, 0.2, seed=3, key=page_of)
    train_pages, val_pages = {page_of(i) for i in train}, {page_of(i) for i in val}
    assert not train_pages & val_pages
    assert len(val_pages) == 4 and len(val) == 12
    assert train == [i for i in ITEMS if page_of(i) in train_pages]


@pytest.mark.parametrize(
    ("pages", "fraction", "expected"),
    [(20, 0.2, 4), (3, 0.01, 1), (2, 0.9, 1), (1, 0.5, 0), (10, 0.0, 0), (0, 0.5, 0)],
)
def test_validation_count(pages: int, fraction: float, expected: int) -> None:
    assert validation_count(pages, fraction) == expected


def test_split_refuses_a_fraction_outside_0_1() -> None:
    with pytest.raises(ValueError):
        split_by_page(ITEMS, 1.0, seed=0, key=page_of)


# --- YOLO dataset --------------------------------------------------------------------------


def test_yolo_label_numbers_for_a_known_box(tmp_path: Path) -> None:
    line = GtLine(id="l", text="x", bbox=(20, 10, 120, 50))
    page = gt_page(tmp_path, "p", (line, line), size=(200, 100))
    assert label_rows(page) == "0 0.350000 0.300000 0.500000 0.400000\n" * 2


def test_write_yolo_dataset_layout(tmp_path: Path) -> None:
    line = GtLine(id="l", text="x", bbox=(20, 10, 120, 50))
    train = [gt_page(tmp_path / "a", "p", (line,)), gt_page(tmp_path / "b", "p", (line,))]
    val = [gt_page(tmp_path / "c", "q", (line,))]
    data = write_yolo_dataset(train, val, tmp_path / "out")
    config = yaml.safe_load(data.read_text())
    assert config == {
        "path": str((tmp_path / "out").resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": {0: "text_line"},
    }
    train_images = sorted((tmp_path / "out" / "images" / "train").iterdir())
    assert len(train_images) == 2  # same image name in two sets: no collision
    for image in train_images:
        label = tmp_path / "out" / "labels" / "train" / f"{image.stem}.txt"
        assert label.read_text() == "0 0.233333 0.150000 0.333333 0.200000\n"
    (val_image,) = (tmp_path / "out" / "images" / "val").iterdir()
    assert os.stat(val_image).st_ino == os.stat(val[0].image).st_ino  # hard link, no copy


def test_write_yolo_dataset_downscales_and_drops_exif_orientation(tmp_path: Path) -> None:
    line = GtLine(id="l", text="x", bbox=(100, 100, 500, 200))
    big = gt_page(tmp_path, "big", (line,), size=(1000, 500))
    turned = tmp_path / "turned.jpg"
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 8
    Image.new("RGB", (300, 200), "white").save(turned, exif=exif)
    rotated = GtPage(tmp_path / "turned.xml", turned, 300, 200, (line,), "alto-4")
    write_yolo_dataset([big, rotated], [], tmp_path / "out", image_size=100)
    stored = {p.name.split("-")[0]: p for p in (tmp_path / "out" / "images" / "train").iterdir()}
    with Image.open(stored["big"]) as image:
        assert image.size == (200, 100)
    with Image.open(stored["turned"]) as image:
        assert image.size == (200, 133)
        assert image.getexif().get(EXIF_ORIENTATION, 1) == 1
    label = tmp_path / "out" / "labels" / "train" / f"{stored['big'].stem}.txt"
    assert label.read_text() == "0 0.300000 0.300000 0.400000 0.200000\n"


def test_write_yolo_dataset_refuses_a_folder_in_use_but_rewrites_its_own(tmp_path: Path) -> None:
    (tmp_path / "theirs").mkdir()
    (tmp_path / "theirs" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError):
        write_yolo_dataset([], [], tmp_path / "theirs")
    assert (tmp_path / "theirs" / "notes.txt").read_text() == "keep me"
    line = GtLine(id="l", text="x", bbox=(20, 10, 120, 50))
    first = [gt_page(tmp_path / "a", "p", (line,)), gt_page(tmp_path / "b", "q", (line,))]
    write_yolo_dataset(first[:1], first[1:], tmp_path / "out")
    write_yolo_dataset(first[1:], first[:1], tmp_path / "out")  # a rerun, the sides swapped
    (train_image,) = (tmp_path / "out" / "images" / "train").iterdir()
    (train_label,) = (tmp_path / "out" / "labels" / "train").iterdir()
    assert train_image.name.startswith("q-") and train_label.stem == train_image.stem
