"""Bad data files and scenario files: a clear error naming the file, never another exception.

The readers either yield ticks the engine can use (finite prices above 0, time never going
back) or raise DataFileError naming the file; a scenario file is a Scenario or a
ScenarioError naming it; `manage.py backtest` on either ends in one sentence and exit status 1,
never a traceback.
"""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings as django_settings
from django.core.management import CommandError, call_command
from hypothesis import strategies as st

from tests.drills.conftest import fuzz, garbage_texts, number_texts
from trading.backtest.formats import FORMATS, DataFileError, Format
from trading.backtest.readers import open_ticks
from trading.backtest.scenario import ScenarioError, load_scenario

VALID_SCENARIO = {
    "exchange": "binanceusdm",
    "symbol": "BTC/USDT:USDT",
    "tiers": {"tier1_pct": 0.005, "tier2_pct": 0.003, "tier3_pct": 0.0015},
    "sentiment": {"enabled": True, "window_s": 60, "threshold": 0.6},
    "risk": {"max_position": 1, "max_levels": 2},
    "levels": [
        {"id": "a", "level_price": 100, "base_size": 0.5, "leverage": 5, "cool_down_ms": 1000},
        {"id": 2, "level_price": "101.5", "base_size": 1, "take_profit_pct": 0.01},
    ],
}


@contextmanager
def written(content: bytes, name: str) -> Iterator[Path]:
    """The content in a file of its own, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="levelbot-fuzz-") as folder:
        path = Path(folder) / name
        path.write_bytes(content)
        yield path


# Data files: a known format's rows, garbled cell by cell and line by line, then packed.


def good_cell(column: str, row: int) -> str:
    """A value a file of the format would hold in the column on data row `row`."""
    if column in ("timestamp", "time", "transact_time"):
        return str(1_721_347_200_000 + row * 60_000)
    if column == "local_timestamp":
        return str(1_721_347_200_000_000 + row)
    if column == "side":
        return ("buy", "sell")[row % 2]
    if column == "is_buyer_maker":
        return ("true", "false")[row % 2]
    if column == "type":
        return "MARKET"
    if column in ("open", "close"):
        return "100.5"
    if column == "high":
        return "101"
    if column == "low":
        return "100"
    if column in ("exchange", "symbol"):
        return "binance-futures" if column == "exchange" else "BTCUSDT"
    return "100.25" if column == "price" else "0.5"


def cells() -> st.SearchStrategy[str | None]:
    """None keeps the good value; else garbage in its place."""
    garbage = st.one_of(
        number_texts(), st.text(max_size=20), st.sampled_from(['"', '"1,2"', "1\n2", "\r"])
    )
    return st.one_of(st.none(), st.none(), st.none(), garbage)


@st.composite
def data_files(draw: st.DrawFn) -> tuple[bytes, str]:
    """(the file's bytes, its name): a CSV of some format, garbled, plain or packed."""
    fmt: Format = draw(st.sampled_from(FORMATS))
    columns = list(fmt.columns)
    if draw(st.booleans()):  # a header with a column lost, doubled or renamed
        i = draw(st.integers(0, len(columns) - 1))
        columns[i] = draw(st.sampled_from(["", columns[0], "price ", "PRICE", "x"]))
    lines = [",".join(columns)] if draw(st.integers(0, 5)) else []
    for row in range(draw(st.integers(0, 12))):
        values = [draw(cells()) or good_cell(column, row) for column in fmt.columns]
        cut = draw(st.integers(0, 3))
        lines.append(",".join(values[: len(values) - cut] if cut == 3 else values))
    text = draw(st.sampled_from(["\n", "\r\n"])).join(lines)
    data = text.encode("utf-8", "surrogatepass")
    if draw(st.booleans()):  # torn off anywhere, or binary spliced in
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.binary(max_size=40)) * draw(st.integers(0, 1))
    packing = draw(
        st.sampled_from(
            ["plain", "gzip", "gzip torn", "zip", "zip of two", "gzip magic", "zip magic"]
        )
    )
    return pack(data, packing, draw(st.binary(max_size=200))), f"fuzz-{fmt.name}.csv"


def pack(data: bytes, packing: str, noise: bytes) -> bytes:
    if packing == "gzip":
        return gzip.compress(data)
    if packing == "gzip torn":
        packed = gzip.compress(data)
        return packed[: max(2, len(packed) // 2)]
    if packing in ("zip", "zip of two"):
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("trades.csv", data)
            if packing == "zip of two":
                archive.writestr("more.csv", data)
        return buffer.getvalue()
    if packing == "gzip magic":  # bytes that only look like an archive
        return b"\x1f\x8b" + data
    if packing == "zip magic":
        return b"PK\x03\x04" + noise + data
    return data


def odd_files() -> st.SearchStrategy[bytes]:
    """Bytes behind archive magic, empty archives, nothing at all."""
    empty_zip = io.BytesIO()
    zipfile.ZipFile(empty_zip, "w").close()
    return st.one_of(
        st.binary(max_size=400),
        st.builds(lambda b: b"\x1f\x8b" + b, st.binary(max_size=200)),
        st.builds(lambda b: b"PK\x03\x04" + b, st.binary(max_size=200)),
        st.just(empty_zip.getvalue()),
        st.just(gzip.compress(b"")),
        st.just(gzip.compress(b"\x00\x01binary\xff" * 50)),
    )


def read_everything(path: Path) -> None:
    """Reads the file to its end: ticks the engine can use, or DataFileError naming it."""
    try:
        last = None
        with open_ticks(path) as stream:
            for batch in stream:
                assert np.isfinite(batch.price).all() and (batch.price > 0).all()
                assert np.isfinite(batch.qty).all()
                if len(batch.ts):
                    assert last is None or batch.ts[0] >= last
                    assert (np.diff(batch.ts) >= 0).all()
                    last = batch.ts[-1]
    except DataFileError as e:
        assert e.path == path and str(e).startswith(str(path)), str(e)
        assert e.line is None or e.line >= 1
        assert "Traceback" not in str(e)


@fuzz(120, file=data_files())
def test_garbled_data_files_yield_good_ticks_or_name_the_file(file: tuple[bytes, str]) -> None:
    content, name = file
    with written(content, name) as path:
        read_everything(path)


@fuzz(60, content=odd_files(), name=st.sampled_from(["a.csv", "a.csv.gz", "a.zip", "a"]))
def test_odd_bytes_and_empty_archives_are_refused_by_name(content: bytes, name: str) -> None:
    with written(content, name) as path:
        read_everything(path)


@fuzz(40, name=st.one_of(garbage_texts(), st.sampled_from(["/", "/etc", "~nosuchuser/a.csv"])))
def test_paths_that_name_no_file_are_refused_by_name(name: str) -> None:
    try:
        open_ticks(name)
    except DataFileError as e:
        assert str(e.path) in str(e)
    else:  # a path that happens to be a readable data file
        pytest.fail(f"{name!r} was opened as a data file")


# Scenario files.


def json_values() -> st.SearchStrategy[object]:
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**20), max_value=10**20),
        st.floats(),
        number_texts(),
        st.text(max_size=10),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(
            st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def scenario_texts(draw: st.DrawFn) -> bytes:
    """The valid scenario with values swapped for any JSON, or a file that is no JSON."""
    data = json.loads(json.dumps(VALID_SCENARIO))
    for _ in range(draw(st.integers(0, 4))):
        target = data
        path = draw(
            st.sampled_from(
                [
                    (),
                    ("tiers",),
                    ("sentiment",),
                    ("risk",),
                    ("levels",),
                    ("levels", 0),
                    ("levels", 1),
                ]
            )
        )
        try:
            for key in path:
                target = target[key]
        except (KeyError, IndexError, TypeError):
            continue
        if isinstance(target, dict):
            key = draw(st.one_of(st.sampled_from(sorted(target) or ["x"]), st.text(max_size=8)))
            target[key] = draw(json_values())
        elif isinstance(target, list) and target:
            target[draw(st.integers(0, len(target) - 1))] = draw(json_values())
    text = json.dumps(data).encode()
    return draw(
        st.one_of(
            st.just(text),
            st.builds(lambda at: text[:at], st.integers(0, len(text))),
            st.binary(max_size=100),
            st.sampled_from([b"", b"[" * 50_000, b'{"levels": ' + b"9" * 5000 + b"}"]),
        )
    )


def check_scenario(path: Path) -> None:
    try:
        load_scenario(path)
    except ScenarioError as e:
        assert str(e).startswith(str(path)), str(e)


@fuzz(100, content=scenario_texts())
def test_garbled_scenario_files_load_or_name_the_file(content: bytes) -> None:
    with written(content, "SCENARIO.json") as path:
        check_scenario(path)


# The command.

CANDLES = "timestamp,open,high,low,close,volume\n" + "".join(
    f"{1_721_347_200_000 + i * 60_000},100.5,101,99.5,100.7,3\n" for i in range(30)
)


def backtest_refusal(data: Path, scenario: Path) -> str | None:
    """The CommandError's sentence, None when the backtest ran."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(
            "backtest", "--data", str(data), "--config", str(scenario), stdout=out, stderr=err
        )
    except CommandError as e:
        return str(e)
    assert out.getvalue(), "the backtest ran and reported nothing"
    return None


@fuzz(60, file=data_files(), scenario=scenario_texts())
def test_backtest_command_ends_in_a_report_or_a_sentence_naming_the_file(
    file: tuple[bytes, str], scenario: bytes
) -> None:
    content, name = file
    with written(content, name) as data, written(scenario, "SCENARIO.json") as config:
        message = backtest_refusal(data, config)
        if message is not None:
            assert str(data) in message or str(config) in message, message


@pytest.mark.parametrize(
    ("data", "scenario"),
    [
        (b"\x1f\x8b\x08\x00garbage", json.dumps(VALID_SCENARIO).encode()),
        (CANDLES.encode(), b"\xff\xfe not json"),
        (CANDLES.replace("101,", "1e999,", 3).encode(), json.dumps(VALID_SCENARIO).encode()),
    ],
)
def test_backtest_command_exits_1_with_the_file_named_and_no_traceback(
    data: bytes, scenario: bytes
) -> None:
    with written(data, "data.csv") as data_path, written(scenario, "SCENARIO.json") as config:
        result = subprocess.run(
            [sys.executable, "manage.py", "backtest", "--data", str(data_path), "--config", config],
            cwd=django_settings.BASE_DIR,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert str(data_path) in result.stderr or str(config) in result.stderr, result.stderr
