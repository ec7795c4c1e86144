"""What the bad-input drills share: sized fuzzing, the cases tried, and garbage to send.

`@fuzz(examples, ...)` is hypothesis's `@given` with the drill's settings: `examples` cases,
times LEVELBOT_FUZZ_EXAMPLES (a whole number, 1 unless set: `LEVELBOT_FUZZ_EXAMPLES=10 make
drills` tries ten times as many), no deadline, and each case counted. At the end of the
session the total goes to var/drills/fuzz.json, so that the reliability report can say how many
cases were tried.
"""

from __future__ import annotations

import functools
import json
import logging
import os
from collections import Counter
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.test import Client
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trading.validators import validate_exchange_id, validate_unified_symbol

SCALE_VARIABLE = "LEVELBOT_FUZZ_EXAMPLES"
REPORT = Path(django_settings.BASE_DIR) / "var" / "drills" / "fuzz.json"
CASES_PROPERTY = "fuzz_cases"

_cases: Counter[str] = Counter()  # cases tried by the running test, by test name
_session_cases: dict[str, int] = {}  # cases tried by each test of the session, by node id


def scale() -> int:
    """The factor LEVELBOT_FUZZ_EXAMPLES sets on every test's number of cases."""
    text = os.environ.get(SCALE_VARIABLE, "").strip() or "1"
    try:
        factor = int(text)
    except ValueError:
        factor = 0
    if factor < 1:
        raise pytest.UsageError(
            f"{SCALE_VARIABLE} must be a whole number of 1 or more (it multiplies every fuzz "
            f"test's cases), not {text!r}."
        )
    return factor


def fuzz(examples: int, *args: Any, **strategies: Any) -> Callable[[Callable[..., Any]], Any]:
    """`@given(*args, **strategies)` run `examples` times the scale, every case counted."""

    def decorate(test: Callable[..., Any]) -> Any:
        @functools.wraps(test)
        def counted(*a: Any, **kw: Any) -> Any:
            _cases[test.__name__] += 1
            return test(*a, **kw)

        return settings(
            max_examples=examples * scale(),
            deadline=None,
            database=None,  # every run draws afresh; a failure prints its own reproduction
            suppress_health_check=[
                HealthCheck.function_scoped_fixture,
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )(given(*args, **strategies)(counted))

    return decorate


@pytest.fixture(autouse=True)
def _count_cases(request: pytest.FixtureRequest) -> Generator[None, None, None]:
    _cases.clear()
    yield
    tried = sum(_cases.values())
    if tried:
        request.node.user_properties.append((CASES_PROPERTY, tried))


@pytest.hookimpl(trylast=True)
def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    # The teardown report carries what the fixture above recorded, from a worker process too.
    if report.when != "teardown":
        return
    for name, value in report.user_properties:
        if name == CASES_PROPERTY:
            _session_cases[report.nodeid] = int(value)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput") or not _session_cases:
        return  # a worker's cases reach the controller through its reports
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "cases": sum(_session_cases.values()),
        "scale": scale(),
        "tests": dict(sorted(_session_cases.items())),
    }
    REPORT.write_text(json.dumps(report, indent=2) + "\n")


# The people and rows the web drills need.


@pytest.fixture
def quiet_refusals() -> Generator[None, None, None]:
    """Thousands of 404s would bury a failure's report; server errors are still logged."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


@pytest.fixture
def fuzz_client(client: Client, db: None, quiet_refusals: None) -> Client:
    """Logged in as a staff superuser: every dashboard page and every admin page is open."""
    user = User.objects.create_user(
        "fuzzer", password="fuzz-pass-1", is_staff=True, is_superuser=True
    )
    client.force_login(user)
    return client


def trading_rows() -> dict[str, list[dict[str, Any]]]:
    """Every row of every trading model, to compare before and after a refused request."""
    return {
        model._meta.label: list(model.objects.order_by("pk").values())
        for model in apps.get_app_config("trading").get_models()
    }


def invalid_rows() -> list[str]:
    """Rows that would not pass their own validation, or name no exchange or symbol."""
    problems = []
    for model in apps.get_app_config("trading").get_models():
        names = {field.name for field in model._meta.get_fields()}
        for row in model.objects.all():
            try:
                row.full_clean(validate_unique=False, validate_constraints=False)
                if "exchange" in names:
                    validate_exchange_id(row.exchange)
                if "symbol" in names:
                    validate_unified_symbol(row.symbol)
            except ValidationError as e:
                problems.append(f"{model._meta.label} {row.pk}: {e.messages}")
    return problems


# Garbage: what a hand, a script or a bad paste may put where a number or a name belongs.

NUMBER_WORDS = (
    "nan",
    "NaN",
    "-nan",
    "inf",
    "-inf",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e999",
    "1e-999",
    "1e308",
    "-0",
    "0",
    "+0",
    "0.0",
    "-1",
    "1",
    "0.5",
    "2",
    "100",
    "62750",
    "0.002",
    "0.005",
    "1_000",
    "0x10",
    "1,5",
    "\u0661\u0662\u0663",  # Arabic-Indic digits
    "\uff11\uff12\uff13",  # full-width digits
    "9" * 40,
    "0." + "0" * 30 + "1",
    " 5 ",
    "",
    " ",
    "\x00",
    "true",
    "None",
    "null",
    "[]",
    "{}",
)


def number_texts() -> st.SearchStrategy[str]:
    """Texts a number field may be sent: words that trip parsers, and numbers of every size."""
    return st.one_of(
        st.sampled_from(NUMBER_WORDS),
        st.integers(min_value=-(10**30), max_value=10**30).map(str),
        st.floats(allow_nan=True, allow_infinity=True).map(repr),
        st.decimals(allow_nan=True, allow_infinity=True).map(str),
    )


def garbage_texts() -> st.SearchStrategy[str]:
    """Any text, including control characters, lone surrogates' neighbours and long runs."""
    return st.one_of(
        st.text(max_size=40),
        st.text(alphabet=st.characters(codec="utf-8"), min_size=200, max_size=5000),
        st.sampled_from(["<script>alert(1)</script>", "' OR 1=1 --", "../../etc/passwd", "%00"]),
    )


def field_values() -> st.SearchStrategy[str]:
    """What one form field is sent: a number's text or any text."""
    return st.one_of(number_texts(), garbage_texts())
