from __future__ import annotations

from shared.db.models import Job, JobStatus, Page, PageStatus
from shared.results import PAGE_SEPARATOR, build_result, page_out, render_text
from shared.schemas import ErrorInfo, LineOut


def make_job(status: str = JobStatus.PARTIAL.value) -> Job:
    return Job(
        id="job-1",
        tenant_id="tenant-1",
        status=status,
        source_key="src/job-1",
        media_type="image/png",
    )


def make_page(index: int, status: str, text: str | None = None, **fields: object) -> Page:
    return Page(
        id=f"page-{index}",
        job_id="job-1",
        index=index,
        status=status,
        image_key=f"pages/{index}.png",
        text=text,
        **fields,
    )


def line(text: str, y: int) -> dict[str, object]:
    return {"text": text, "confidence": 0.9, "bbox": [0, y, 100, y + 10]}


def test_pages_are_sorted_by_index_and_text_is_joined() -> None:
    pages = [
        make_page(2, PageStatus.SUCCEEDED.value, "third", width=30, height=40),
        make_page(
            0,
            PageStatus.SUCCEEDED.value,
            "first\nline two",
            width=10,
            height=20,
            lines=[line("first", 0), line("line two", 12)],
            model="ppocr",
        ),
        make_page(1, PageStatus.SUCCEEDED.value, "second"),
    ]
    result = build_result(make_job(JobStatus.SUCCEEDED.value), pages)
    assert result.job_id == "job-1"
    assert result.status == "succeeded"
    assert [p.index for p in result.pages] == [0, 1, 2]
    assert [p.text for p in result.pages] == ["first\nline two", "second", "third"]
    assert result.text == "first\nline two\n\f\nsecond\n\f\nthird"
    assert result.text == PAGE_SEPARATOR.join(["first\nline two", "second", "third"])
    assert result.pages[0].lines == [
        LineOut(text="first", confidence=0.9, bbox=[0, 0, 100, 10]),
        LineOut(text="line two", confidence=0.9, bbox=[0, 12, 100, 22]),
    ]
    assert (result.pages[0].width, result.pages[0].height) == (10, 20)
    assert result.pages[1].lines == []
    assert result.model == "ppocr"


def test_failed_page_carries_its_error() -> None:
    pages = [
        make_page(0, PageStatus.SUCCEEDED.value, "ok"),
        make_page(
            1,
            PageStatus.FAILED.value,
            error_code="corrupt_image",
            error_message="The image cannot be decoded",
        ),
    ]
    result = build_result(make_job(), pages)
    assert result.pages[0].error is None
    assert result.pages[1].error == ErrorInfo(
        code="corrupt_image", message="The image cannot be decoded"
    )
    assert result.pages[1].text == ""
    assert result.pages[1].status == "failed"
    assert result.text == "ok" + PAGE_SEPARATOR


def test_failed_page_without_message_has_empty_message() -> None:
    out = page_out(make_page(0, PageStatus.FAILED.value, error_code="engine_failed"))
    assert out.error == ErrorInfo(code="engine_failed", message="")


def test_error_only_shown_for_failed_pages() -> None:
    # A page being retried may keep the last error in its row; it is not reported.
    out = page_out(
        make_page(
            0, PageStatus.RUNNING.value, error_code="database_unavailable", error_message="down"
        )
    )
    assert out.error is None


def test_unfinished_pages_have_empty_text() -> None:
    pages = [
        make_page(0, PageStatus.QUEUED.value),
        make_page(1, PageStatus.SUCCEEDED.value, "middle"),
        make_page(2, PageStatus.RUNNING.value),
    ]
    result = build_result(make_job(JobStatus.RUNNING.value), pages)
    assert [(p.status, p.text, p.lines, p.width) for p in result.pages] == [
        ("queued", "", [], None),
        ("succeeded", "middle", [], None),
        ("running", "", [], None),
    ]
    assert result.text == PAGE_SEPARATOR + "middle" + PAGE_SEPARATOR
    assert result.model is None


def test_no_pages() -> None:
    result = build_result(make_job(JobStatus.QUEUED.value), [])
    assert result.pages == []
    assert result.text == ""
    assert render_text(result) == "\n"


def test_render_text_ends_with_a_newline() -> None:
    pages = [
        make_page(1, PageStatus.SUCCEEDED.value, "b"),
        make_page(0, PageStatus.SUCCEEDED.value, "a"),
    ]
    assert render_text(build_result(make_job(), pages)) == "a\n\f\nb\n"


def test_page_separator_is_a_form_feed_line() -> None:
    assert PAGE_SEPARATOR == "\n\f\n"


def test_result_serializes_to_json() -> None:
    pages = [make_page(0, PageStatus.FAILED.value, error_code="x", error_message="y")]
    body = build_result(make_job(), pages).model_dump()
    assert body == {
        "job_id": "job-1",
        "status": "partial",
        "text": "",
        "model": None,
        "pages": [
            {
                "index": 0,
                "width": None,
                "height": None,
                "status": "failed",
                "text": "",
                "lines": [],
                "error": {"code": "x", "message": "y"},
                "reviewed_at": None,
                "reviewed_by": None,
            }
        ],
    }


def test_corrections_replace_their_lines_and_rebuild_the_text() -> None:
    pages = [
        make_page(0, PageStatus.SUCCEEDED.value, "a\nb", lines=[line("a", 0), line("b", 12)]),
        make_page(1, PageStatus.SUCCEEDED.value, "c", lines=[line("c", 0)]),
    ]
    result = build_result(make_job(), pages, {(0, 1): "B fixed"})
    first, second = result.pages
    assert [x.text for x in first.lines] == ["a", "B fixed"]
    assert [x.corrected for x in first.lines] == [False, True]
    assert first.text == "a\nB fixed" and second.text == "c"
    assert result.text == "a\nB fixed\n\f\nc"
    assert build_result(make_job(), pages).text == "a\nb\n\f\nc"  # as recognized
    # A correction for a line that is not there (a page re-read with fewer lines) is ignored.
    assert build_result(make_job(), pages, {(1, 5): "x"}).text == "a\nb\n\f\nc"


def test_lines_say_whether_handwritten_and_older_results_still_load() -> None:
    stored = [
        line("printed", 0),  # stored before lines said which: unknown
        line("typed", 12) | {"handwritten": False},
        line("by hand", 24) | {"handwritten": True},
    ]
    page = make_page(0, PageStatus.SUCCEEDED.value, "x", lines=stored)
    out = page_out(page)
    assert [x.handwritten for x in out.lines] == [None, False, True]
    dumped = out.model_dump(mode="json")["lines"]
    assert [x["handwritten"] for x in dumped] == [None, False, True]
