"""Test support: paths to the shared recordings, local exchange servers."""
