"""tapeflow.app."""
