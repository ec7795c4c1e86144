"""Price and trade sources for runbot: synthetic, replayed from a file, or live."""
