"""The runbot process: feed -> engine -> executor -> store, one engine per (exchange, symbol)."""
