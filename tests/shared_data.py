"""Where the recorded exchange data and golden scenarios live: `../shared` beside the project."""

from pathlib import Path

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
GOLDEN = SHARED / "golden"
TRADES = SHARED / "data" / "trades"

# Each golden scenario and the trade file it replays (see GOLDEN / "README.md").
GOLDEN_SCENARIOS = {
    "handmade_edges": GOLDEN / "handmade_edges.csv",
    "btcusdt_2024-07-19": TRADES / "binance_usdm_BTCUSDT_trades_2024-07-19T0000_hftbacktest.csv",
    "ethusdt_2024-08-08": TRADES / "binance_usdm_ETHUSDT_trades_2024-08-08T2354_hftbacktest.csv",
}
