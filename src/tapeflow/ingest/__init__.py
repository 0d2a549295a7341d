"""tapeflow.ingest."""
