"""Forms of the levels pages. They only validate: every write goes through trading.services.

The level and tiers forms are model forms so that their clean runs the model's own
`full_clean()`: the sentences beside a field are the model's (trading.messages), the same ones
the admin shows and the database constraints carry.
"""

from __future__ import annotations

from contextlib import suppress
from pathlib import Path
from typing import Any

from django import forms

from dashboard.symbols import UnknownSymbol, unified_symbol
from trading import messages
from trading.backtest.scenario import ScenarioError
from trading.choices import MAX_LEVERAGE
from trading.models import Level, SymbolTiers
from trading.models.backtests import FEE_RATE_NOT_NEGATIVE, SLIPPAGE_NOT_NEGATIVE
from trading.numbers import plain
from trading.selectors import scenario_from_db
from trading.services import LEVEL_EDITABLE
from trading.validators import validate_exchange_id


def _number_messages(what: str, example: str) -> dict[str, str]:
    return {
        "required": f"Enter {what}.",
        "invalid": f"Enter {what} as a number, such as {example}.",
        "max_digits": f"Enter {what} with at most %(max)s digits.",
        "max_decimal_places": f"Enter {what} with at most %(max)s decimal places.",
        "max_whole_digits": f"Enter {what} with at most %(max)s digits before the point.",
    }


def _whole_messages(what: str) -> dict[str, str]:
    return {"required": f"Enter {what}.", "invalid": f"Enter {what} as a whole number."}


class LevelForm(forms.ModelForm):
    """A new level's order parameters; the (exchange, symbol) come from the page."""

    # Declared rather than generated so that no form-level minimum speaks before the model's
    # validators, whose sentences say what the limit is for.
    leverage = forms.IntegerField(
        label="Leverage",
        initial=10,
        error_messages=_whole_messages("the leverage"),
        widget=forms.NumberInput(attrs={"min": 1, "max": MAX_LEVERAGE, "step": 1}),
    )
    cool_down_ms = forms.IntegerField(
        label="Cooldown (ms)",
        initial=1000,
        error_messages=_whole_messages("the cooldown in milliseconds"),
        widget=forms.NumberInput(attrs={"min": 0, "step": 1}),
    )

    class Meta:
        model = Level
        fields = list(LEVEL_EDITABLE)  # what a trader sets on a level, new or edited
        labels = {
            "level_price": "Level price",
            "base_size": "Base size",
            "margin_type": "Margin",
            "take_profit_pct": "Take profit",
            "stop_loss_pct": "Stop loss",
            "close_on_touch": "Close at the level",
        }
        help_texts = {
            "level_price": "Above it the bot shorts, below it the bot longs.",
            "base_size": "Tier 1's order in base units; tiers 2 and 3 bring the side to 2x and 4x.",
            "take_profit_pct": "Optional, from the side's average entry: 0.01 is 1%.",
            "stop_loss_pct": "Optional, from the side's average entry: 0.01 is 1%.",
            "close_on_touch": "Close the side when the price comes back to the level.",
        }
        widgets = {
            "level_price": forms.NumberInput(attrs={"step": "any", "min": 0}),
            "base_size": forms.NumberInput(attrs={"step": "any", "min": 0}),
            "take_profit_pct": forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1}),
            "stop_loss_pct": forms.NumberInput(attrs={"step": "any", "min": 0, "max": 1}),
            "note": forms.TextInput(),
        }
        error_messages = {
            "level_price": _number_messages("the level price", "62750"),
            "base_size": _number_messages("the base size", "0.002"),
            "take_profit_pct": _number_messages("the take profit", "0.01"),
            "stop_loss_pct": _number_messages("the stop loss", "0.02"),
            "margin_type": {
                "required": messages.MARGIN_TYPE_VALID,
                "invalid_choice": messages.MARGIN_TYPE_VALID,
            },
        }

    def __init__(self, *args: Any, exchange: str, symbol: str, **kwargs: Any) -> None:
        # The model has no default leverage, so the new instance's empty value would hide the
        # form's suggested one: start the instance from it.
        kwargs.setdefault(
            "instance",
            Level(exchange=exchange, symbol=symbol, leverage=self.base_fields["leverage"].initial),
        )
        super().__init__(*args, **kwargs)
        if self.instance.pk is not None:  # an edit: numbers as a trader writes them
            for name in ("level_price", "base_size", "take_profit_pct", "stop_loss_pct"):
                value = getattr(self.instance, name)
                if value is not None:
                    self.initial[name] = plain(value)


class TiersForm(forms.ModelForm):
    """The three tier distances of one (exchange, symbol), as fractions (0.005 is 0.5%)."""

    class Meta:
        model = SymbolTiers
        fields = ["tier1_pct", "tier2_pct", "tier3_pct"]
        labels = {"tier1_pct": "Tier 1", "tier2_pct": "Tier 2", "tier3_pct": "Tier 3"}
        widgets = {
            name: forms.NumberInput(attrs={"step": "any", "min": 0})
            for name in ("tier1_pct", "tier2_pct", "tier3_pct")
        }
        error_messages = {
            f"tier{k}_pct": _number_messages(f"tier {k}", example)
            for k, example in (("1", "0.005"), ("2", "0.003"), ("3", "0.0015"))
        }

    def __init__(
        self, *args: Any, exchange: str, symbol: str, tiers: SymbolTiers | None, **kwargs: Any
    ) -> None:
        # A fresh instance, never the row itself: validating bad input must not change the
        # tiers the page shows as current. The service writes the row.
        instance = SymbolTiers(exchange=exchange, symbol=symbol)
        if tiers is not None:
            kwargs.setdefault(
                "initial",
                {name: plain(getattr(tiers, name)) for name in self._meta.fields or ()},
            )
        super().__init__(*args, instance=instance, **kwargs)


class SymbolPickForm(forms.Form):
    """Opens the page of an (exchange, symbol), levels or not."""

    exchange = forms.CharField(
        max_length=32,
        validators=[validate_exchange_id],
        error_messages={"required": "Enter the exchange's ccxt id, such as bybit."},
        widget=forms.TextInput(
            attrs={"list": "known-exchanges", "placeholder": "bybit", "autocomplete": "off"}
        ),
    )
    symbol = forms.CharField(
        max_length=64,
        error_messages={"required": "Enter a symbol, such as BTCUSDT or BTC/USDT:USDT."},
        widget=forms.TextInput(attrs={"placeholder": "BTCUSDT", "autocomplete": "off"}),
    )

    def clean_symbol(self) -> str:
        try:
            return unified_symbol(self.cleaned_data["symbol"])
        except UnknownSymbol as e:
            raise forms.ValidationError(str(e)) from None


def _server_path(text: str) -> str:
    """An absolute path on the server; `~user` of a user the server lacks stays as written."""
    path = Path(text)
    with suppress(RuntimeError):  # no such home: the file check says there is no such file
        path = path.expanduser()
    return str(path.absolute())


class BacktestJobForm(forms.Form):
    """A backtest to run in the background: the symbol's levels and tiers in the database,
    replayed over data files on the server."""

    exchange = forms.CharField(
        max_length=32,
        validators=[validate_exchange_id],
        error_messages={"required": "Enter the exchange's ccxt id, such as binanceusdm."},
        widget=forms.TextInput(
            attrs={
                "list": "backtest-exchanges",
                "placeholder": "binanceusdm",
                "autocomplete": "off",
            }
        ),
    )
    symbol = forms.CharField(
        max_length=64,
        error_messages={"required": "Enter a symbol, such as BTCUSDT or BTC/USDT:USDT."},
        widget=forms.TextInput(attrs={"placeholder": "BTCUSDT", "autocomplete": "off"}),
    )
    data_files = forms.CharField(
        label="Data files",
        error_messages={"required": "Enter the path of a trades or candles file on the server."},
        help_text="Paths on the server, one a line, in time order: trades or 1-minute candles "
        "as .csv, .csv.gz or .zip.",
        widget=forms.Textarea(
            attrs={"rows": 3, "placeholder": "/data/BTCUSDT-trades-2024-07-19.csv.gz"}
        ),
    )
    fee_rate = forms.DecimalField(
        label="Fee rate",
        initial="0",
        min_value=0,
        max_digits=8,
        decimal_places=6,
        error_messages={
            **_number_messages("the fee rate", "0.0005"),
            "min_value": FEE_RATE_NOT_NEGATIVE,
        },
        help_text="Taker fee per fill: 0.0005 is 5 bp.",
        widget=forms.NumberInput(attrs={"step": "any", "min": 0}),
    )
    slippage_bps = forms.DecimalField(
        label="Slippage (bps)",
        initial="0",
        min_value=0,
        max_digits=8,
        decimal_places=2,
        error_messages={
            **_number_messages("the slippage", "1"),
            "min_value": SLIPPAGE_NOT_NEGATIVE,
        },
        help_text="Each fill this much worse than the trade's price.",
        widget=forms.NumberInput(attrs={"step": "any", "min": 0}),
    )

    def clean_symbol(self) -> str:
        try:
            return unified_symbol(self.cleaned_data["symbol"])
        except UnknownSymbol as e:
            raise forms.ValidationError(str(e)) from None

    def clean_data_files(self) -> list[str]:
        """Absolute paths (a worker may start elsewhere), each file's head read as ticks."""
        from trading.backtest.formats import DataFileError  # pyarrow only when a form is sent
        from trading.backtest.readers import open_ticks

        lines = self.cleaned_data["data_files"].splitlines()
        paths = [_server_path(line.strip()) for line in lines if line.strip()]
        if not paths:
            raise forms.ValidationError(self.fields["data_files"].error_messages["required"])
        errors = []
        for path in paths:
            try:
                open_ticks(path)
            except DataFileError as e:
                errors.append(str(e))
        if not errors:
            try:
                open_ticks(paths)  # a run replays trades or candles, not both
            except DataFileError as e:
                errors.append(str(e))
        if errors:
            raise forms.ValidationError(errors)
        return paths

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        exchange, symbol = cleaned.get("exchange"), cleaned.get("symbol")
        if exchange and symbol:
            try:
                scenario_from_db(exchange=exchange, symbol=symbol)
            except ScenarioError as e:
                self.add_error("symbol", str(e))
        return cleaned
