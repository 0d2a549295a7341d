"""tapeflow.store."""
