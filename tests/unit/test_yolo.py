"""The YOLO text-line detector on a random-weight YOLOv8n built offline (no trained weights)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from shared.ultralytics_env import FONT_NAME, FONT_SOURCES, prepare_ultralytics
from worker.engines.base import DetectedLine
from worker.engines.yolo import YoloDetector, lines_from_boxes, resolve_device
from worker.engines.yolo_build import SIZES, build_yolo

ENV_VARS = ("YOLO_OFFLINE", "YOLO_CONFIG_DIR", "YOLO_AUTOINSTALL")
REPO = Path(__file__).resolve().parents[2]
SIZES_HW = [(400, 300), (200, 500), (333, 333)]
IMGSZ = 320
ANY_BOX = 0.0001  # random weights score about 1e-3, so nearly every anchor passes


def isolate_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unset the Ultralytics variables so that undo also removes values set after this."""
    for name in ENV_VARS:
        monkeypatch.setenv(name, "")  # records the original state, even "unset", for undo
        monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def config_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One Ultralytics settings folder for the module; env and thread count restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    folder = tmp_path_factory.mktemp("ultralytics")
    with pytest.MonkeyPatch.context() as monkeypatch:
        isolate_env(monkeypatch)
        prepare_ultralytics(folder)
        yield folder
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def weights(config_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_yolo("tiny", tmp_path_factory.mktemp("models") / "tiny.pt", config_dir=config_dir)


@pytest.fixture(scope="module")
def pages() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in SIZES_HW]


def detector(
    weights: Path,
    config_dir: Path,
    *,
    conf: float = ANY_BOX,
    batch_size: int = 8,
    device: str = "cpu",
    name: str | None = None,
) -> YoloDetector:
    return YoloDetector(
        weights,
        conf=conf,
        imgsz=IMGSZ,
        batch_size=batch_size,
        device=device,
        config_dir=config_dir,
        name=name,
    )


def as_arrays(lines: list[DetectedLine]) -> tuple[np.ndarray, np.ndarray]:
    quads = np.array([line.quad for line in lines], dtype=np.float32).reshape(-1, 4, 2)
    return quads, np.array([line.score for line in lines], dtype=np.float32)


def assert_same_lines(left: list[list[DetectedLine]], right: list[list[DetectedLine]]) -> None:
    assert [len(lines) for lines in left] == [len(lines) for lines in right]
    for one, other in zip(left, right, strict=True):
        quads, scores = as_arrays(one)
        other_quads, other_scores = as_arrays(other)
        np.testing.assert_allclose(quads, other_quads, atol=1e-3)
        np.testing.assert_allclose(scores, other_scores, atol=1e-5)


def test_size_table_maps_to_yolov8_scales() -> None:
    assert SIZES == {"tiny": "yolov8n", "small": "yolov8s", "base": "yolov8m"}


def test_tiny_checkpoint_is_small_and_loads_with_one_class(weights: Path) -> None:
    from ultralytics import YOLO

    assert weights.is_file()
    assert weights.stat().st_size < 8_000_000
    checkpoint = torch.load(weights, map_location="cpu", weights_only=False)
    assert checkpoint["ema"] is None
    assert checkpoint["train_args"]["task"] == "detect"
    model = YOLO(str(weights))
    assert model.task == "detect"
    assert model.names == {0: "text_line"}


def test_same_seed_builds_same_weights(config_dir: Path, weights: Path, tmp_path: Path) -> None:
    again = build_yolo("tiny", tmp_path / "again.pt", seed=0, config_dir=config_dir)
    other = build_yolo("tiny", tmp_path / "other.pt", seed=1, config_dir=config_dir)
    first, second, third = (
        torch.load(path, map_location="cpu", weights_only=False)["model"].state_dict()
        for path in (weights, again, other)
    )
    assert all(torch.equal(first[key], second[key]) for key in first)
    assert not all(torch.equal(first[key], third[key]) for key in first)


@pytest.mark.parametrize(
    ("size", "name"), [("huge", "unknown.pt"), ("tiny", "model.onnx")], ids=["size", "suffix"]
)
def test_build_rejects_bad_arguments(
    config_dir: Path, tmp_path: Path, size: str, name: str
) -> None:
    with pytest.raises(ValueError):
        build_yolo(size, tmp_path / name, config_dir=config_dir)
    assert not (tmp_path / name).exists()


def test_detect_returns_clockwise_quads_inside_each_page(
    weights: Path, config_dir: Path, pages: list[np.ndarray]
) -> None:
    found = detector(weights, config_dir).detect(pages)

    assert len(found) == len(pages)
    assert all(found), "random weights at a tiny threshold should emit boxes on every page"
    for page, lines in zip(pages, found, strict=True):
        height, width = page.shape[:2]
        quads, scores = as_arrays(lines)
        assert all(line.quad.shape == (4, 2) and line.quad.dtype == np.float32 for line in lines)
        assert np.all((scores >= 0) & (scores <= 1))
        assert np.all((quads[..., 0] >= 0) & (quads[..., 0] <= width))
        assert np.all((quads[..., 1] >= 0) & (quads[..., 1] <= height))
        x0, y0, x1, y1 = quads[:, 0, 0], quads[:, 0, 1], quads[:, 2, 0], quads[:, 2, 1]
        assert np.all((x0 <= x1) & (y0 <= y1))
        np.testing.assert_array_equal(quads[:, 1], np.stack([x1, y0], axis=1))
        np.testing.assert_array_equal(quads[:, 3], np.stack([x0, y1], axis=1))


def test_higher_threshold_keeps_no_more_boxes(
    weights: Path, config_dir: Path, pages: list[np.ndarray]
) -> None:
    loose = detector(weights, config_dir).detect(pages)
    strict = detector(weights, config_dir, conf=0.99).detect(pages)
    assert all(len(s) <= len(lo) for s, lo in zip(strict, loose, strict=True))
    assert all(line.score >= 0.99 for lines in strict for line in lines)


def test_empty_input_gives_empty_output(weights: Path, config_dir: Path) -> None:
    assert detector(weights, config_dir).detect([]) == []


def test_results_do_not_depend_on_batching(
    weights: Path, config_dir: Path, pages: list[np.ndarray]
) -> None:
    whole = detector(weights, config_dir, batch_size=8).detect(pages)
    assert_same_lines(detector(weights, config_dir, batch_size=2).detect(pages), whole)
    assert_same_lines(detector(weights, config_dir).detect(pages[2:]), whole[2:])


def test_detector_name_and_device(weights: Path, config_dir: Path) -> None:
    assert detector(weights, config_dir).name == "yolov8:tiny"
    assert detector(weights, config_dir, name="lines-v1").name == "lines-v1"
    assert detector(weights, config_dir, device="auto").device in {"cpu", "cuda:0"}


def test_detector_rejects_missing_weights_and_bad_batch(
    weights: Path, config_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(FileNotFoundError):
        detector(tmp_path / "yolov8n.pt", config_dir)
    with pytest.raises(ValueError):
        detector(weights, config_dir, batch_size=0)


@pytest.mark.parametrize(("cuda", "expected"), [(True, "cuda:0"), (False, "cpu")])
def test_auto_device(monkeypatch: pytest.MonkeyPatch, cuda: bool, expected: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device("auto") == expected
    assert resolve_device("cuda:1") == "cuda:1"


def test_lines_from_boxes_clips_to_page() -> None:
    xyxy = np.array([[-5.0, 2.0, 120.0, 30.5], [10.0, 40.0, 20.0, 90.0]])
    lines = lines_from_boxes(xyxy, np.array([0.9, 0.4]), width=100, height=60)

    expected = [[0, 2], [100, 2], [100, 30.5], [0, 30.5]]
    np.testing.assert_array_equal(lines[0].quad, np.array(expected, dtype=np.float32))
    np.testing.assert_array_equal(lines[1].quad[2], [20, 60])
    assert [line.score for line in lines] == pytest.approx([0.9, 0.4])
    assert xyxy[0, 0] == -5.0, "the caller's array is left untouched"
    assert lines_from_boxes(np.zeros((0, 4)), np.zeros(0), 10, 10) == []


def test_prepare_ultralytics_sets_env_and_places_font(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate_env(monkeypatch)
    prepare_ultralytics(tmp_path / "cfg")

    assert os.environ["YOLO_OFFLINE"] == "1"
    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "cfg")
    assert os.environ["YOLO_AUTOINSTALL"] == "false"
    font = tmp_path / "cfg" / "Ultralytics" / FONT_NAME
    source = next(path for path in FONT_SOURCES if path.is_file())
    assert font.read_bytes() == source.read_bytes()


def test_prepare_ultralytics_keeps_a_chosen_dir_and_font(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    isolate_env(monkeypatch)
    monkeypatch.setenv("YOLO_CONFIG_DIR", str(tmp_path / "chosen"))
    font = tmp_path / "chosen" / "Ultralytics" / FONT_NAME
    font.parent.mkdir(parents=True)
    font.write_bytes(b"own font")

    monkeypatch.setenv("HOME", str(tmp_path / "home"))

    prepare_ultralytics(tmp_path / "ignored")
    prepare_ultralytics()

    assert os.environ["YOLO_CONFIG_DIR"] == str(tmp_path / "chosen")
    assert font.read_bytes() == b"own font"
    assert not (tmp_path / "ignored").exists()
    assert not (tmp_path / "home").exists(), "the default folder is only made when it is used"


def no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args!r}")


def test_build_load_and_predict_make_no_network_access(
    monkeypatch: pytest.MonkeyPatch, config_dir: Path, tmp_path: Path, pages: list[np.ndarray]
) -> None:
    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket.socket, "connect_ex", no_network)
    monkeypatch.setattr(socket, "getaddrinfo", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)

    path = build_yolo("tiny", tmp_path / "offline.pt", config_dir=config_dir)
    found = detector(path, config_dir).detect(pages[:1])

    assert len(found) == 1


OFFLINE_SCRIPT = """
import socket, sys
from pathlib import Path

def refuse(*args, **kwargs):
    raise SystemExit(f"network access attempted: {args!r}")

socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse

import numpy as np
import torch

torch.set_num_threads(1)
from worker.engines.yolo import YoloDetector
from worker.engines.yolo_build import build_yolo

assert "ultralytics" not in sys.modules, "ultralytics must be imported lazily"
weights = build_yolo("tiny", Path(sys.argv[1]))
page = np.zeros((64, 96, 3), dtype=np.uint8)
print("pages:", len(YoloDetector(weights, imgsz=64, device="cpu").detect([page])))
"""


def test_fresh_process_imports_lazily_and_stays_offline(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in ENV_VARS}
    env.update(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=str(tmp_path / "xdg"))
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(OFFLINE_SCRIPT), str(tmp_path / "m.pt")],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.splitlines()[-1] == "pages: 1"  # Ultralytics logs to stdout before it
    assert (tmp_path / "home" / ".cache" / "quire" / "ultralytics" / "Ultralytics").is_dir()
    assert not (tmp_path / "xdg").exists()


def test_ultralytics_does_not_replace_pillow_open(weights: Path) -> None:
    import io

    from shared.errors import CorruptImage
    from shared.imageinfo import inspect_image

    YoloDetector(weights, device="cpu")
    with pytest.raises(CorruptImage):
        inspect_image(io.BytesIO(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40), 10_000_000)
