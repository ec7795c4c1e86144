"""Writes to levels and tiers: each service validates, then saves in one transaction.

Each logs what it changed once the transaction commits (spec section 10), never for a change
that was rolled back.
"""

from __future__ import annotations

import logging
import threading
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from trading.backtest.formats import DataFileError
from trading.backtest.scenario import Scenario, ScenarioError, scenario_to_dict
from trading.engine import RiskLimits
from trading.models import (
    BacktestJob,
    BacktestRun,
    BotSettings,
    CloseRequest,
    Level,
    MarginType,
    Side,
    SymbolRisk,
    SymbolTiers,
    TierState,
)
from trading.models.backtests import SAVED_ORDERS_MAX
from trading.notify import notify, texts
from trading.selectors import scenario_from_db
from trading.validators import validate_exchange_id, validate_unified_symbol

if TYPE_CHECKING:  # the bot process never loads numpy for this
    from trading.backtest.runner import Backtest

logger = logging.getLogger(__name__)


def _log_on_commit(message: str, *args: object) -> None:
    transaction.on_commit(lambda: logger.info(message, *args))


@transaction.atomic
def level_create(
    *,
    exchange: str,
    symbol: str,
    level_price: Decimal,
    base_size: Decimal,
    leverage: int,
    margin_type: str = MarginType.ISOLATED,
    cool_down_ms: int = 1000,
    source: str = "manual-web",
    note: str = "",
    is_active: bool = True,
    take_profit_pct: Decimal | None = None,
    stop_loss_pct: Decimal | None = None,
    close_on_touch: bool = False,
) -> Level:
    """Create a level with a fresh tier state for each side (nothing fired, nothing filled)."""
    level = Level(
        exchange=exchange,
        symbol=symbol,
        level_price=level_price,
        base_size=base_size,
        leverage=leverage,
        margin_type=margin_type,
        cool_down_ms=cool_down_ms,
        source=source,
        note=note,
        is_active=is_active,
        take_profit_pct=take_profit_pct,
        stop_loss_pct=stop_loss_pct,
        close_on_touch=close_on_touch,
    )
    level.full_clean()
    level.save()
    TierState.objects.bulk_create(TierState(level=level, side=side) for side in Side.values)
    _log_on_commit("level added: %s (id %s)", level, level.pk)
    return level


# What a trader may change on a saved level; the (exchange, symbol) stay.
LEVEL_EDITABLE = (
    "level_price",
    "base_size",
    "leverage",
    "margin_type",
    "cool_down_ms",
    "take_profit_pct",
    "stop_loss_pct",
    "close_on_touch",
    "note",
)


@transaction.atomic
def level_update(*, level: Level, **changes: Any) -> bool:
    """Edit a saved level; returns whether its tier state was reset.

    A new price moves every boundary, so what fired around the old price says nothing about
    the new one: the level's tier state resets (both sides, cycle counted up, `last_trigger_ms`
    kept). A new size, leverage, cooldown, exit or note keeps the tier state: tiers fired stay
    fired, and the next tier's order is sized from the new base. The bot applies either on its
    next reload.
    """
    unknown = set(changes) - set(LEVEL_EDITABLE)
    if unknown:
        raise ValueError(f"These level fields cannot be edited: {', '.join(sorted(unknown))}.")
    saved_price = Level.objects.select_for_update().get(pk=level.pk).level_price
    for field, value in changes.items():
        setattr(level, field, value)
    level.full_clean()
    # Only the edited fields: never runtime state the bot may have written meanwhile.
    level.save(update_fields=list(changes))
    reset = level.level_price != saved_price
    if reset:
        level_reset_tier_state(level=level)
    _log_on_commit(
        "level edited: %s (id %s)%s", level, level.pk, ", tier state reset" if reset else ""
    )
    return reset


@transaction.atomic
def level_delete(*, level: Level) -> None:
    """Delete a level and its tier state; its trades stay, keeping the level's id as text.

    An open position the level built is not closed (spec 14.4).
    """
    description, level_id = str(level), level.pk
    level.delete()
    _log_on_commit("level removed: %s (id %s)", description, level_id)


@transaction.atomic
def level_set_active(*, level: Level, is_active: bool) -> Level:
    """Pause (no tier fires) or resume a level. Its tier state and cooldown are kept."""
    level.is_active = is_active
    level.full_clean()
    level.save(update_fields=["is_active"])
    _log_on_commit("level %s: %s (id %s)", "resumed" if is_active else "paused", level, level.pk)
    return level


@transaction.atomic
def level_reset_tier_state(*, level: Level) -> list[TierState]:
    """Reset both sides of a level: no tier fired, nothing filled, the cycle counted up.

    `last_trigger_ms` stays, so the cooldown still holds after a reset (DESIGN 3, rule 9). The
    new cycle gives the side's next orders new client order ids.
    """
    for side in Side.values:
        TierState.objects.get_or_create(level=level, side=side)
    TierState.objects.filter(level=level).update(
        fired_tiers=[], filled_size=Decimal(0), cycle=F("cycle") + 1, updated_at=timezone.now()
    )
    _log_on_commit("tier state reset: %s (id %s)", level, level.pk)
    return list(TierState.objects.filter(level=level).order_by("side"))


@transaction.atomic
def symbol_tiers_set(
    *,
    exchange: str,
    symbol: str,
    tier1_pct: Decimal,
    tier2_pct: Decimal,
    tier3_pct: Decimal,
) -> SymbolTiers:
    """Create or change the tiers of an (exchange, symbol); every level of it uses them."""
    tiers = SymbolTiers.objects.select_for_update().filter(
        exchange=exchange, symbol=symbol
    ).first() or SymbolTiers(exchange=exchange, symbol=symbol)
    tiers.tier1_pct = tier1_pct
    tiers.tier2_pct = tier2_pct
    tiers.tier3_pct = tier3_pct
    tiers.full_clean()
    tiers.save()
    _log_on_commit("symbol tiers updated: %s", tiers)
    return tiers


@transaction.atomic
def backtest_run_create(
    *,
    backtest: Backtest,
    summary: dict[str, Any],
    data_files: list[str],
    fee_rate: Decimal,
    slippage_bps: Decimal,
    candles: bool,
) -> BacktestRun:
    """Store a finished backtest so that the dashboard can show it with its equity curve."""
    orders = backtest.result.orders
    run = BacktestRun(
        exchange=backtest.scenario.exchange,
        symbol=backtest.scenario.symbol,
        data_files=data_files,
        scenario=scenario_to_dict(backtest.scenario),
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
        candles=candles,
        summary=summary,
        equity_curve=[list(point) for point in backtest.equity_points()],
        orders=orders[:SAVED_ORDERS_MAX],
        orders_truncated=len(orders) > SAVED_ORDERS_MAX,
    )
    run.full_clean()
    run.save()
    _log_on_commit("backtest run %s saved: %s %s", run.pk, run.exchange, run.symbol)
    return run


@transaction.atomic
def scenario_import(
    *, scenario: Scenario, raw_levels: list[dict[str, Any]], sentiment: bool = False
) -> dict[str, int]:
    """The scenario's tiers and levels (and, if asked, its sentiment settings) in one go.

    `raw_levels` are the file's level objects, for the order fields the engine does not keep
    (leverage, margin type). Returns {scenario level id: database id}.
    """
    tiers = scenario.tiers
    symbol_tiers_set(
        exchange=scenario.exchange,
        symbol=scenario.symbol,
        tier1_pct=tiers.tier1_pct,
        tier2_pct=tiers.tier2_pct,
        tier3_pct=tiers.tier3_pct,
    )
    ids = {}
    for config, raw in zip(scenario.levels, raw_levels, strict=True):
        level = level_create(
            exchange=scenario.exchange,
            symbol=scenario.symbol,
            level_price=config.level_price,
            base_size=Decimal(repr(config.base_size)),
            leverage=raw.get("leverage", 1),
            margin_type=raw.get("margin_type", MarginType.ISOLATED),
            cool_down_ms=config.cool_down_ms,
            take_profit_pct=config.take_profit_pct,
            stop_loss_pct=config.stop_loss_pct,
            close_on_touch=config.close_on_touch,
            source="scenario",
        )
        ids[str(config.level_id)] = level.pk
    symbol_risk_set(exchange=scenario.exchange, symbol=scenario.symbol, risk=scenario.risk)
    if sentiment:
        settings = BotSettings.load()
        settings.sentiment_enabled = scenario.sentiment.enabled
        settings.sentiment_window_s = round(scenario.sentiment.window_s)
        settings.sentiment_threshold = Decimal(repr(scenario.sentiment.threshold))
        settings.full_clean()
        settings.save()
    return ids


@transaction.atomic
def symbol_risk_set(*, exchange: str, symbol: str, risk: RiskLimits) -> SymbolRisk | None:
    """Set an (exchange, symbol)'s risk limits; limits all empty remove the row."""
    if risk == RiskLimits():
        SymbolRisk.objects.filter(exchange=exchange, symbol=symbol).delete()
        return None
    row = SymbolRisk.objects.filter(exchange=exchange, symbol=symbol).first() or SymbolRisk(
        exchange=exchange, symbol=symbol
    )
    row.max_position = None if risk.max_position is None else Decimal(repr(risk.max_position))
    row.max_notional = None if risk.max_notional is None else Decimal(repr(risk.max_notional))
    row.max_levels = risk.max_levels
    distance = risk.min_liquidation_distance
    row.min_liquidation_distance = None if distance is None else Decimal(repr(distance))
    row.full_clean()
    row.save()
    _log_on_commit("risk limits set: %s", row)
    return row


def bot_entries_pause(*, paused: bool) -> BotSettings:
    """The kill switch: no new entry on any level while paused; the bot applies it on reload."""
    settings = BotSettings.load()
    was = settings.entries_paused
    settings.entries_paused = paused
    settings.save(update_fields=["entries_paused"])
    _log_on_commit("kill switch %s", "on: all entries paused" if paused else "off")
    if was != paused:
        transaction.on_commit(lambda: notify(texts.kill_switch(on=paused)))
    return settings


@transaction.atomic
def position_close_request(
    *, exchange: str, symbol: str, side: str, requested_by: str = ""
) -> CloseRequest:
    """Ask the bot to close a side of a symbol now (a manual close: reduce-only, then reset
    per rule 9). Asking again while a request waits returns the waiting one."""
    if side not in Side.values:
        raise ValueError(f"The side must be LONG or SHORT, not {side!r}.")
    validate_exchange_id(exchange)  # the bot acts on what is asked: only a real market
    validate_unified_symbol(symbol)
    pending = CloseRequest.objects.filter(
        exchange=exchange, symbol=symbol, side=side, status=CloseRequest.Status.PENDING
    ).first()
    if pending is not None:
        return pending
    request = CloseRequest.objects.create(
        exchange=exchange, symbol=symbol, side=side, requested_by=requested_by
    )
    _log_on_commit("close requested: %s %s %s by %s", exchange, symbol, side, requested_by)
    return request


@transaction.atomic
def bot_close_everything(*, requested_by: str = "") -> list[CloseRequest]:
    """The kill switch's second step: pause every entry, and ask the bot to close both sides
    of every symbol it trades (a side with nothing open is reported as such)."""
    bot_entries_pause(paused=True)
    pairs = Level.objects.values_list("exchange", "symbol").distinct().order_by()
    return [
        position_close_request(
            exchange=exchange, symbol=symbol, side=side, requested_by=requested_by
        )
        for exchange, symbol in sorted(set(pairs))
        for side in Side.values
    ]


# Backtests started from the dashboard: a job row, replayed by celery or a background thread.


@transaction.atomic
def backtest_job_start(
    *,
    exchange: str,
    symbol: str,
    data_files: list[str],
    fee_rate: Decimal,
    slippage_bps: Decimal,
    requested_by: str = "",
) -> BacktestJob:
    """Queue a backtest of the (exchange, symbol)'s levels and tiers in the database over the
    data files, and hand it off once the job is committed; returns at once, never waiting on
    the replay.

    With REDIS_URL the celery task `trading.tasks.run_backtest_job` replays it (in this process
    if the broker does not take it); without, a daemon thread of this process does.
    """
    job = BacktestJob(
        exchange=exchange,
        symbol=symbol,
        data_files=data_files,
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
        requested_by=requested_by,
    )
    job.full_clean()
    job.save()
    job_id = job.pk
    transaction.on_commit(lambda: _backtest_job_hand_off(job_id))
    _log_on_commit("backtest job %s queued: %s %s by %s", job_id, exchange, symbol, requested_by)
    return job


def _backtest_job_hand_off(job_id: int) -> None:
    # Even handing to the broker happens off the request: a broker that does not answer must
    # not hold up the page.
    threading.Thread(
        target=_backtest_job_background,
        args=(job_id,),
        name=f"levelbot-backtest-{job_id}",
        daemon=True,
    ).start()


def _backtest_job_background(job_id: int) -> None:
    try:
        if settings.REDIS_URL and _backtest_job_enqueue(job_id):
            return
        backtest_job_run(job_id=job_id)
    except Exception:  # the database itself failed: nothing to mark the job with
        logger.exception("Backtest job %s could not be run.", job_id)
    finally:
        connection.close()  # this thread's own connection


def _backtest_job_enqueue(job_id: int) -> bool:
    """Hand the job to a celery worker; False when the broker does not take it."""
    import levelbot.celery  # noqa: F401  (the app the task binds to: broker from REDIS_URL)
    from trading.notify.dispatch import BROKER_RETRY
    from trading.tasks import run_backtest_job

    try:
        run_backtest_job.apply_async(args=[job_id], retry=True, retry_policy=BROKER_RETRY)
    except Exception as e:
        logger.warning(
            "The celery broker did not take backtest job %s (%s); running it in the web "
            "process instead. Check that Redis at REDIS_URL is up.",
            job_id,
            type(e).__name__,
        )
        return False
    return True


def backtest_job_run(*, job_id: int) -> BacktestJob | None:
    """Replay a queued job: mark it running, write its progress as the files are read, then
    save the run and link it (done), or say in a sentence why it stopped (failed).

    A job that is not queued (taken by another worker, a task delivered twice) is left as it
    is; None when there is no such job. The scenario is the symbol's levels and tiers in the
    database when the replay starts.
    """
    from trading.backtest.replay import replay  # numpy and pyarrow: only where a replay runs

    jobs = BacktestJob.objects.filter(pk=job_id)
    now = timezone.now()
    taken = jobs.filter(status=BacktestJob.Status.QUEUED).update(
        status=BacktestJob.Status.RUNNING, started_at=now, beat_at=now, progress=0.0
    )
    job = jobs.first()
    if not taken:
        logger.info("Backtest job %s is %s: not run again.", job_id, job.status if job else "gone")
        return job
    assert job is not None

    def progress(share: float) -> None:
        jobs.update(progress=round(share, 4), beat_at=timezone.now())

    try:
        scenario = scenario_from_db(exchange=job.exchange, symbol=job.symbol)
        done = replay(
            scenario,
            job.data_files,
            fee_rate=float(job.fee_rate),
            slippage_bps=float(job.slippage_bps),
            on_progress=progress,
        )
        with transaction.atomic():
            run = backtest_run_create(
                backtest=done.backtest,
                summary=done.summary,
                data_files=list(job.data_files),
                fee_rate=job.fee_rate,
                slippage_bps=job.slippage_bps,
                candles=done.stats.candles,
            )
            jobs.update(
                status=BacktestJob.Status.DONE,
                progress=1.0,
                run=run,
                finished_at=timezone.now(),
            )
        logger.info("Backtest job %s done: run %s.", job_id, run.pk)
    except (DataFileError, ScenarioError) as e:
        _backtest_job_fail(job_id, str(e))
    except OSError as e:
        _backtest_job_fail(job_id, f"{e.filename or 'A data file'}: cannot be read ({e.strerror}).")
    except Exception as e:
        logger.exception("Backtest job %s stopped on an unexpected error.", job_id)
        _backtest_job_fail(
            job_id,
            f"The backtest stopped on an unexpected error ({type(e).__name__}); the traceback "
            "is in the log of the process that ran it. Check the files and start it again.",
        )
    return jobs.first()


def _backtest_job_fail(job_id: int, message: str) -> None:
    logger.warning("Backtest job %s failed: %s", job_id, message)
    BacktestJob.objects.filter(pk=job_id).update(
        status=BacktestJob.Status.FAILED, error=message, finished_at=timezone.now()
    )
