"""tapeflow.config."""
