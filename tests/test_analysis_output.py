"""Every output of a table: plain rows, CSV, pandas, HTML (also as rendered by
headless Chromium), the terminal, matplotlib and PNG, and the command line."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import struct
import subprocess
import sys
from datetime import date, datetime, timezone
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bitmapist import Bitmapist, MissingDependencyError
from bitmapist.analysis import CohortTable, Table
from bitmapist.cli import main
from bitmapist.demo import Simulation, simulate

REQUIRE_CHROMIUM = os.environ.get("BITMAPIST_REQUIRE_CHROMIUM") == "1"
ANSI = re.compile(r"\x1b\[[0-9;]*m")


@pytest.fixture
def table() -> CohortTable:
    """A small table with every kind of cell: counts, zeros, and not reached."""
    bm = Bitmapist(clock=lambda: datetime(2025, 1, 3, 9, tzinfo=timezone.utc))
    for uid in range(1, 9):
        bm.mark_event("signup", uid, date(2025, 1, 1 + uid % 2))
    for uid in (1, 2, 3, 4):
        bm.mark_event("active", uid, date(2025, 1, 2))
    bm.mark_event("active", 1234, date(2025, 1, 3))
    return bm.cohort(
        "signup", "active", by="day", start=date(2025, 1, 1), cohorts=3, periods=3
    )


def texts(row: tuple[object, ...], percent: bool = False) -> list[str]:
    """A row as the renderings write it."""
    found = []
    for i, value in enumerate(row):
        if value is None:
            found.append("")
        elif isinstance(value, float) or (percent and i >= 2):
            found.append(f"{value:.1f}%")
        elif isinstance(value, int):
            found.append(f"{value:,}")
        else:
            found.append(str(value))
    return found


class Cells(HTMLParser):
    """The text of every th and td, row by row."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_cells(page: str) -> list[list[str]]:
    parser = Cells()
    parser.feed(page)
    return parser.rows


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (length, kind) == (13, b"IHDR")
    width, height = struct.unpack(">II", data[16:24])
    assert data[-8:-4] == b"IEND", "the PNG has no end chunk"
    return width, height


def test_rows_hold_sizes_counts_and_empty_cells(table: CohortTable) -> None:
    assert table.header == ("cohort", "size", "0", "1", "2")
    assert table.rows() == [
        ("2025-01-01", 4, 0, 2, 0),
        ("2025-01-02", 4, 2, 0, None),
        ("2025-01-03", 0, 0, None, None),
    ]
    assert table.rows(percent=True)[0] == ("2025-01-01", 4, 0.0, 50.0, 0.0)
    assert table.rows(percent=True)[2] == ("2025-01-03", 0, None, None, None)


def test_csv_reads_back_as_the_rows(table: CohortTable, tmp_path: Path) -> None:
    path = tmp_path / "table.csv"

    text = table.to_csv(path)

    assert path.read_text() == text
    parsed = list(csv.reader(io.StringIO(text)))
    assert parsed[0] == list(table.header)
    assert parsed[1:] == [
        ["" if v is None else str(v) for v in row] for row in table.rows()
    ]
    percent = list(csv.reader(io.StringIO(table.to_csv(percent=True))))
    assert percent[1] == ["2025-01-01", "4", "0.00", "50.00", "0.00"]


def test_pandas_frame_has_nullable_counts_and_float_percentages(
    table: CohortTable,
) -> None:
    pandas = pytest.importorskip("pandas")

    counts, percent = table.to_pandas(), table.to_pandas(percent=True)

    assert list(counts.index) == list(table.labels)
    assert counts.index.name == "cohort"
    assert list(counts.columns) == ["size", "0", "1", "2"]
    assert str(counts["1"].dtype) == "Int64"
    assert counts.loc["2025-01-02", "1"] == 0
    assert pandas.isna(counts.loc["2025-01-02", "2"])
    assert str(percent["1"].dtype) == "Float64"
    assert str(percent["size"].dtype) == "Int64"
    assert percent.loc["2025-01-01", "1"] == 50.0


def test_a_missing_extra_is_named(
    table: CohortTable, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A None entry in sys.modules makes the import fail as if not installed.
    monkeypatch.setitem(sys.modules, "pandas", None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)

    with pytest.raises(
        MissingDependencyError, match=r"pip install 'bitmapist\[pandas\]'"
    ):
        table.to_pandas()
    with pytest.raises(MissingDependencyError, match=r"bitmapist\[plot\]"):
        table.plot()
    with pytest.raises(ImportError, match=r"bitmapist\[plot\]"):
        table.to_png(tmp_path / "x.png")


def test_html_page_is_standalone_and_holds_the_table(table: CohortTable) -> None:
    page = table.to_html(percent=False)

    assert page.startswith("<!DOCTYPE html>")
    assert "<script" not in page and "http" not in page
    cells = read_cells(page)
    assert cells[0] == list(table.header)
    assert cells[1:] == [texts(row) for row in table.rows()]
    assert read_cells(table._repr_html_())[1:] == [
        texts(row, percent=True) for row in table.rows(percent=True)
    ]


def chromium() -> str:
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        message = "chromium is not on PATH (apt-get install chromium)"
        if REQUIRE_CHROMIUM:
            pytest.fail(f"BITMAPIST_REQUIRE_CHROMIUM=1 but {message}")
        print(f"skipped: {message}")
        pytest.skip(message)
    return binary


def headless(binary: str, profile: Path, *arguments: str) -> str:
    command = [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={profile}",
        *arguments,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_chromium_renders_the_page_with_the_data(
    table: CohortTable, tmp_path: Path
) -> None:
    binary = chromium()
    page = tmp_path / "table.html"
    table.to_html(page, percent=False)
    shot = tmp_path / "table.png"

    dom = headless(binary, tmp_path / "profile-dom", "--dump-dom", page.as_uri())
    headless(
        binary,
        tmp_path / "profile-shot",
        "--window-size=800,300",
        f"--screenshot={shot}",
        page.as_uri(),
    )

    cells = read_cells(dom)
    assert cells[0] == list(table.header)
    assert cells[1:] == [texts(row) for row in table.rows()]
    assert png_size(shot.read_bytes()) == (800, 300)


def test_terminal_table_is_aligned_and_coloured_on_request(table: CohortTable) -> None:
    plain = table.to_terminal(percent=False, color=False)
    coloured = table.to_terminal(percent=False, color=True)

    lines = plain.splitlines()
    assert lines[0] == table.title
    assert lines[1].split() == list(table.header)
    for line, row in zip(lines[2:], table.rows(), strict=True):
        assert line.split() == [t.replace(",", "") for t in texts(row) if t]
    assert len({len(line) for line in lines[1:3]}) == 1
    assert "\x1b[48;2;" in coloured
    assert [ANSI.sub("", line).rstrip() for line in coloured.splitlines()] == lines
    assert str(table) == table.to_terminal(color=False)


def test_png_is_a_valid_image_of_the_size_asked(
    table: CohortTable, tmp_path: Path
) -> None:
    pytest.importorskip("matplotlib")
    asked, default = tmp_path / "asked.png", tmp_path / "default.png"

    written = table.to_png(asked, size=(640, 360))
    shape = table.to_png(default)

    assert written == (640, 360)
    assert png_size(asked.read_bytes()) == (640, 360)
    assert png_size(default.read_bytes()) == shape
    assert shape == (220 + 60 * len(table.columns), 140 + 26 * len(table.labels))


def test_plot_draws_the_shares_as_a_heat_map(table: CohortTable) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()

    drawn = table.plot(ax=ax)

    image = drawn.get_images()[0].get_array()
    assert image.shape == (3, 3)
    assert image[0, 1] == pytest.approx(0.5)
    assert bool(image.mask[1, 2]) and bool(image.mask[2, 1])
    assert [t.get_text() for t in drawn.texts][:3] == ["0.0%", "50.0%", "0.0%"]


def test_lifecycle_and_breakdown_tables_share_the_outputs() -> None:
    bm = Bitmapist(clock=lambda: datetime(2025, 1, 20, tzinfo=timezone.utc))
    for uid in (1, 2, 3):
        bm.mark_event("active", uid, date(2025, 1, 6))
        bm.mark_attribute("country:de" if uid < 3 else "country:fr", uid)
    bm.mark_event("active", 1, date(2025, 1, 13))

    lifecycle = bm.lifecycle("active", by="week", periods=2, horizon=2)
    breakdown = bm.breakdown(bm.get_universe(), prefix="country:")

    assert isinstance(lifecycle, Table) and isinstance(breakdown, Table)
    assert lifecycle.rows() == [
        ("2025-W03", 1, 0, 1, 0, 2),
        ("2025-W04", 0, 0, 0, 0, 1),
    ]
    assert breakdown.rows() == [("country:de", 2), ("country:fr", 1)]
    assert breakdown.rows(percent=True)[0][1] == pytest.approx(200 / 3)
    assert read_cells(breakdown.to_html(percent=False))[1] == ["country:de", "2"]
    assert "country:fr" in breakdown.to_terminal()


def test_the_cohort_command_prints_and_writes_every_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    paths = {kind: tmp_path / f"cohort.{kind}" for kind in ("csv", "html", "png")}
    options = ["--by", "day", "--cohorts", "4", "--periods", "3"]

    code = main(
        ["cohort", "signup", "active", "--demo", "--demo-users", "2000", *options]
        + ["--counts", "--color", "never"]
        + [f"--{kind}={path}" for kind, path in paths.items()]
    )

    printed = capsys.readouterr().out
    expected = simulate(Simulation(users=2000)).cohort(
        "signup", "active", by="day", cohorts=4, periods=3
    )
    assert code == 0
    assert printed.startswith(expected.to_terminal(percent=False, color=False))
    assert paths["csv"].read_text() == expected.to_csv()
    assert read_cells(paths["html"].read_text())[1:] == [
        texts(row) for row in expected.rows()
    ]
    assert png_size(paths["png"].read_bytes()) == (400, 244)


def test_the_cohort_command_needs_a_store(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["cohort", "signup", "active"])

    assert code == 1
    assert "give --url" in capsys.readouterr().err
