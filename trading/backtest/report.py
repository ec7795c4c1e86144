"""The backtest report as a trader reads it on a terminal."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from trading.backtest.readers import ReadStats
from trading.backtest.scenario import Scenario


def _money(value: float | None) -> str:
    return "n/a" if value is None else f"{value:+,.2f}"


def _time(ms: int | None) -> str:
    if ms is None:
        return "n/a"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


def _pct(value: Any) -> str:
    return f"{float(value) * 100:g}%"


def _funding(summary: dict[str, Any]) -> str:
    """How much funding was counted, and where the files leave the replay without rates."""
    span = summary["funding_span"]
    if span is None:
        return "not counted: no --funding file"
    events = summary["funding_events"]
    text = (
        f"{_money(summary['funding'])} at {events:,} funding time(s); "
        f"the files cover {_time(span[0])} to {_time(span[1])} UTC"
    )
    first, last = summary["first_ts"], summary["last_ts"]
    if first is not None and last is not None and (span[0] > first or span[1] < last):
        text += ", not the whole replay: funding counted only there"
    return text


def format_report(summary: dict[str, Any], scenario: Scenario, stats: ReadStats) -> str:
    """A few aligned lines: what was replayed, what the engine did, and what it made."""
    tiers = " / ".join(_pct(t) for t in scenario.tiers.pcts())
    sentiment = scenario.sentiment
    flow = (
        f"sentiment on ({sentiment.window_s:g} s window, threshold {sentiment.threshold:g})"
        if sentiment.enabled and not stats.candles
        else "sentiment off"
    )
    span_s = ((summary["last_ts"] or 0) - (summary["first_ts"] or 0)) / 1000
    skipped = ", ".join(f"{n:,} {kind}" for kind, n in sorted(stats.skipped_by_type.items()))
    win_rate = summary["win_rate"]
    ignored = ", ".join(f"{reason} {n:,}" for reason, n in summary["ignored"].items()) or "none"
    exposure = summary["max_exposure"]
    open_position = summary["open_position"]
    rate = summary["ticks_per_second"]
    lines = [
        ("backtest", f"{scenario.exchange} {scenario.symbol}"),
        ("data", f"{stats.files} file(s), {', '.join(stats.formats)}"),
        (
            "ticks",
            f"{summary['ticks']:,}; rows skipped {summary['skipped_rows']:,}"
            + (f" ({skipped})" if skipped else ""),
        ),
        (
            "span",
            f"{_time(summary['first_ts'])} to {_time(summary['last_ts'])} UTC"
            f" ({span_s / 60:,.1f} min)",
        ),
        ("levels", f"{len(scenario.levels)}; tiers {tiers}; {flow}"),
        (
            "orders",
            f"{summary['orders']:,}; volume {summary['volume']:,.2f}; fees {summary['fees']:,.2f}",
        ),
        (
            "pnl",
            f"realized {_money(summary['realized_pnl'])}, "
            f"unrealized {_money(summary['unrealized_pnl'])}, "
            f"funding {_money(summary['funding'])}; net {_money(summary['net_pnl'])} after fees",
        ),
        ("funding", _funding(summary)),
        (
            "win rate",
            "no round trip closed"
            if win_rate is None
            else f"{win_rate:.0%} of {summary['round_trips']:,} round trip(s)",
        ),
        ("drawdown", f"max {summary['max_drawdown']:,.2f}"),
        (
            "exposure",
            f"max LONG {exposure['LONG']:g}, SHORT {exposure['SHORT']:g}; open now "
            f"LONG {open_position['LONG']:g}, SHORT {open_position['SHORT']:g}",
        ),
        ("ignored", ignored),
        ("speed", "n/a" if not rate else f"{rate:,.0f} ticks/s"),
    ]
    if summary.get("saved_run"):
        lines.append(("saved", f"backtest run {summary['saved_run']}"))
    return "\n".join(f"{name:<10}{text}" for name, text in lines)
