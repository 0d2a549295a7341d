"""tapeflow.execution."""
