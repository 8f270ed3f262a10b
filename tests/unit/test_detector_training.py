"""The YOLOv8 detector trainer on a tiny random model and a few drawn pages, on the CPU.

The pages are white with dark "text lines" (runs of word-sized bars); the dataset is written
in the Ultralytics layout by hand. Two epochs at 128 px say nothing of accuracy: the tests
check the mechanics (records, checkpoints, card, resume, time budget).
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from PIL import Image, ImageDraw

from shared.ultralytics_env import prepare_ultralytics
from training.detector_training import (
    BEST_FILE,
    CARD_FILE,
    LAST_FILE,
    SHIPPED_FILE,
    DetectorTrainConfig,
    line_matches,
    train_detector,
    ultralytics_args,
)
from training.evaluation.metrics import Box, Ratio
from training.run_log import EpochRecord, MetricsLog
from worker.engines.yolo_build import build_yolo

IMAGE_SIZE = 128
METRIC_KEYS = {"map50", "map50_95", "precision", "recall", "line_recall", "line_precision"}


@pytest.fixture(scope="module", autouse=True)
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Offline Ultralytics in a private settings folder; one thread, so tests share the CPU."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("ultralytics")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("YOLO_CONFIG_DIR", str(folder))
        prepare_ultralytics(folder)
        yield folder
    torch.set_num_threads(threads)


def draw_page(
    rng: random.Random, size: tuple[int, int] = (240, 320)
) -> tuple[Image.Image, list[Box]]:
    """A white page with 3-6 dark lines of word bars; returns the image and its line boxes."""
    width, height = size
    page = Image.new("RGB", size, "white")
    draw = ImageDraw.Draw(page)
    boxes: list[Box] = []
    y = rng.randint(10, 30)
    while y < height - 40 and len(boxes) < 6:
        line_height = rng.randint(12, 20)
        x, right = rng.randint(10, 30), rng.randint(width - 60, width - 10)
        x0 = x
        while x < right - 10:
            word = rng.randint(10, 40)
            draw.rectangle([x, y, min(x + word, right), y + line_height], fill=(20, 20, 30))
            x += word + rng.randint(4, 8)
        boxes.append((x0, y, min(x, right), y + line_height))
        y += line_height + rng.randint(14, 30)
    return page, boxes


def write_dataset(folder: Path, train: int = 4, val: int = 2, seed: int = 0) -> Path:
    """Pages and ``0 cx cy w h`` labels in the Ultralytics layout; returns data.yaml."""
    rng = random.Random(seed)
    for split, count in (("train", train), ("val", val)):
        (folder / "images" / split).mkdir(parents=True)
        (folder / "labels" / split).mkdir(parents=True)
        for i in range(count):
            page, boxes = draw_page(rng)
            page.save(folder / "images" / split / f"page{i}.png")
            w, h = page.size
            rows = [
                f"0 {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} "
                f"{(x1 - x0) / w:.6f} {(y1 - y0) / h:.6f}"
                for x0, y0, x1, y1 in boxes
            ]
            (folder / "labels" / split / f"page{i}.txt").write_text("\n".join(rows) + "\n")
    data = folder / "data.yaml"
    data.write_text(
        f"path: {folder}\ntrain: images/train\nval: images/val\nnames:\n  0: text_line\n"
    )
    return data


@pytest.fixture(scope="module")
def data_yaml(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("pages"))


@pytest.fixture(scope="module")
def base(config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_yolo("tiny", tmp_path_factory.mktemp("base") / "tiny.pt", config_dir=config_dir)


def config(data_yaml: Path, out_dir: Path, base: Path | str, **changes: Any) -> DetectorTrainConfig:
    options: dict[str, Any] = {"image_size": IMAGE_SIZE, "epochs": 2, "batch": 2, "workers": 0}
    return DetectorTrainConfig(data_yaml, out_dir, base, **(options | changes))


@pytest.fixture(scope="module")
def two_epochs(
    data_yaml: Path, base: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[DetectorTrainConfig, object, list[EpochRecord]]:
    run = config(data_yaml, tmp_path_factory.mktemp("run"), base)
    seen: list[EpochRecord] = []
    return run, train_detector(run, on_epoch=seen.append), seen


@pytest.mark.parametrize(
    ("truth", "found", "recall", "precision"),
    [
        ([], [], Ratio(0, 0), Ratio(0, 0)),
        ([(0, 0, 100, 10)], [], Ratio(0, 1), Ratio(0, 0)),
        ([], [(0, 0, 100, 10)], Ratio(0, 0), Ratio(0, 1)),
        ([(0, 0, 100, 10)], [(0, 0, 100, 10)], Ratio(1, 1), Ratio(1, 1)),
        ([(0, 0, 100, 10)], [(0, 0, 100, 4)], Ratio(0, 1), Ratio(0, 1)),  # IoU 0.4
        ([(0, 0, 100, 10)], [(0, 0, 100, 6)], Ratio(1, 1), Ratio(1, 1)),  # IoU 0.6
        # one box over two lines finds at most one of them
        ([(0, 0, 100, 10), (0, 10, 100, 20)], [(0, 0, 100, 16)], Ratio(1, 2), Ratio(1, 1)),
        ([(0, 0, 100, 10)], [(0, 0, 100, 10), (0, 1, 100, 10)], Ratio(1, 1), Ratio(1, 2)),
    ],
)
def test_line_matches(truth: list, found: list, recall: Ratio, precision: Ratio) -> None:
    assert line_matches(truth, found, 0.5) == (recall, precision)


def test_document_augmentation_defaults(tmp_path: Path) -> None:
    args = ultralytics_args(DetectorTrainConfig(tmp_path / "d.yaml", tmp_path), None)
    assert args["fliplr"] == 0.0 and args["flipud"] == 0.0 and args["mosaic"] == 0.0
    assert args["degrees"] <= 2 and args["scale"] <= 0.2
    assert args["pretrained"] is False and args["amp"] is False and "resume" not in args
    fine_tune = ultralytics_args(DetectorTrainConfig(tmp_path, tmp_path, "a.pt", device="0"), None)
    assert fine_tune["pretrained"] is True and fine_tune["amp"] == "bf16"


def test_two_epochs_write_records_checkpoints_and_card(two_epochs: tuple) -> None:
    run, result, seen = two_epochs
    records = MetricsLog(run.out_dir).read()
    assert [r.epoch for r in records] == [1, 2] == [r.epoch for r in seen]
    for record in records:
        assert set(record.metrics) == METRIC_KEYS
        assert all(0.0 <= v <= 1.0 for v in record.metrics.values())
        assert record.train_loss > 0 and record.samples_per_second > 0
    assert result.records == records and any(r.best for r in records)
    assert result.best_path == run.out_dir / BEST_FILE and result.best_path.is_file()
    assert result.last_path == run.out_dir / LAST_FILE and result.last_path.is_file()
    assert result.stopped in {"epochs", "did_not_converge"}  # random weights may find nothing
    card = json.loads((run.out_dir / CARD_FILE).read_text())
    assert card["family"] == "yolov8" and card["image_size"] == IMAGE_SIZE
    assert card["classes"] == {"0": "text_line"} and card["ultralytics_version"]
    assert card["metrics"] == [r for r in records if r.best][-1].metrics
    assert card["options"]["fliplr"] == 0.0 and card["stopped"] == result.stopped


def test_shipped_detector_is_stripped_and_loads(two_epochs: tuple) -> None:
    run, result, _ = two_epochs
    shipped = torch.load(result.shipped_path, map_location="cpu", weights_only=False)
    last = torch.load(result.last_path, map_location="cpu", weights_only=False)
    assert shipped["optimizer"] is None and shipped["epoch"] == -1
    assert last["optimizer"] is not None and last["epoch"] == 1  # 0-based: resumable
    assert shipped["quire"]["family"] == "yolov8"
    assert result.shipped_path.stat().st_size < result.last_path.stat().st_size
    from ultralytics import YOLO

    model = YOLO(str(run.out_dir / SHIPPED_FILE))
    assert model.names == {0: "text_line"}
    found = model.predict(Image.new("RGB", (200, 120), "white"), imgsz=IMAGE_SIZE, verbose=False)
    assert len(list(found)) == 1


def test_resume_continues_from_the_last_epoch(data_yaml: Path, tmp_path: Path) -> None:
    first = config(data_yaml, tmp_path / "run", "yolov8n.yaml")
    train_detector(first)
    result = train_detector(config(data_yaml, first.out_dir, "yolov8n.yaml", epochs=3))
    assert [r.epoch for r in result.records] == [1, 2, 3]
    last = torch.load(result.last_path, map_location="cpu", weights_only=False)
    assert last["epoch"] == 2
    again = train_detector(config(data_yaml, first.out_dir, "yolov8n.yaml", epochs=3))
    assert [r.epoch for r in again.records] == [1, 2, 3]  # nothing left to train
    with pytest.raises(FileExistsError):
        train_detector(config(data_yaml, first.out_dir, "yolov8n.yaml", resume=False))


def test_time_budget_stops_within_the_first_epoch(
    data_yaml: Path, base: Path, tmp_path: Path
) -> None:
    result = train_detector(config(data_yaml, tmp_path, base, epochs=5, max_minutes=1e-4))
    assert result.stopped == "time_budget"
    assert [r.epoch for r in result.records] == [1]
    assert result.best_path.is_file() and (tmp_path / SHIPPED_FILE).is_file()
