"""tapeflow.strategy."""
