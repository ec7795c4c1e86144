"""Dashboard views: thin functions that read through selectors and write through services."""
