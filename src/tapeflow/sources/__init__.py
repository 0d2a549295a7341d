"""tapeflow.sources."""
