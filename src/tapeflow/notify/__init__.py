"""tapeflow.notify."""
