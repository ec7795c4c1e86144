"""Exchanges the bot trades on, behind one async interface: paper (simulated) and ccxt (live)."""
