"""The sentences a trader reads when a row breaks a rule.

Each serves both the field validator (shown beside the field in a form) and the database
constraint of the same rule.
"""

from trading.choices import MAX_LEVERAGE

# Messages pass through %-formatting in Django's validators and constraints: a literal % is %%.
LEVEL_PRICE_POSITIVE = "The level price must be above 0."
BASE_SIZE_POSITIVE = "The base size must be above 0."
LEVERAGE_RANGE = f"Leverage must be between 1 and {MAX_LEVERAGE}."
COOL_DOWN_NOT_NEGATIVE = "The cooldown cannot be negative."
MARGIN_TYPE_VALID = "The margin type must be isolated or cross."
TIER1_FARTHER = "Tier 1 must be farther from the level than tier 2."
TIER2_FARTHER = "Tier 2 must be farther from the level than tier 3."
TIER3_POSITIVE = "Tier 3 must be above 0."
TIER1_BELOW_ONE = "Tier 1 must be below 1 (1 is 100%%)."
SIDE_VALID = "The side must be LONG or SHORT."
FILLED_SIZE_NOT_NEGATIVE = "The filled size cannot be negative."
TRADE_SIZE_POSITIVE = "The trade size must be above 0."
TRADE_PRICE_POSITIVE = "The fill price must be above 0 when it is known."
TRADE_ACTION_VALID = "The action must be open, add or close."
TRADE_REASON_VALID = "The reason must be one of the listed reasons."
TRADE_STATUS_VALID = "The status must be intent, sent, filled or rejected."
TRADE_NEEDS_LEVEL_KEY = "An open or add must name its level; only a close of a side has none."
CLIENT_ORDER_ID_PRESENT = "Every trade needs a client order id."
SETTINGS_SINGLE_ROW = "There is one bot settings row: change it rather than adding another."
RELOAD_AT_LEAST_100 = "Reload levels at most every 100 ms (levels_reload_ms at least 100)."
WINDOW_AT_LEAST_1 = "The sentiment window must be at least 1 second."
THRESHOLD_RANGE = "The sentiment threshold must be at least 0 and below 1."
HEARTBEAT_AT_LEAST_1 = "The heartbeat timeout must be at least 1 second."
FEE_RATE_RANGE = "The paper fee rate must be at least 0 and below 0.1 (10%%)."
SLIPPAGE_NOT_NEGATIVE = "The paper slippage cannot be negative."
EXIT_PCT_RANGE = "A take-profit or stop-loss is a fraction above 0 and below 1: 0.01 is 1%%."
SLIPPAGE_CAP_POSITIVE = "The slippage cap is at least 0.01 basis points, or empty for none."
SPREAD_NOT_NEGATIVE = "The spread limit cannot be negative."
LIMIT_POSITIVE = "A limit must be above 0; leave it empty for no limit."
FUNDING_ONCE = "This funding settlement is already recorded."
FUNDING_SIDE_VALID = "The side of a funding settlement is LONG, SHORT or empty (not said)."
FUNDING_ID_PRESENT = "Every funding settlement needs the exchange's id for it."
