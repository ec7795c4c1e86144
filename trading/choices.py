"""The enumerations shared by models, services and the bot, with the names of the spec."""

from django.db import models

# The highest leverage any supported exchange offers; a market's own limit is lower and is
# checked when the bot sets leverage on the exchange.
MAX_LEVERAGE = 125


class Side(models.TextChoices):
    LONG = "LONG", "LONG"
    SHORT = "SHORT", "SHORT"


class MarginType(models.TextChoices):
    ISOLATED = "isolated", "isolated"
    CROSS = "cross", "cross"


class TradeAction(models.TextChoices):
    OPEN = "open", "open"
    ADD = "add", "add"
    CLOSE = "close", "close"


class TradeReason(models.TextChoices):
    TIER = "tier", "tier"
    SENTIMENT_EXIT = "sentiment_exit", "sentiment exit"
    TAKE_PROFIT = "take_profit", "take profit"
    STOP_LOSS = "stop_loss", "stop loss"
    LEVEL_TOUCH = "level_touch", "level touch"
    MANUAL = "manual", "manual"


class TradeStatus(models.TextChoices):
    INTENT = "intent", "intent"
    SENT = "sent", "sent"
    FILLED = "filled", "filled"
    REJECTED = "rejected", "rejected"
