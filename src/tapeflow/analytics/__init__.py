"""tapeflow.analytics."""
