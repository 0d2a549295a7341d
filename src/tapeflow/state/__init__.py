"""tapeflow.state."""
