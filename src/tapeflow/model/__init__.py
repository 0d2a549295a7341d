"""The bottom layer: tapeflow's plain data types and shared facts.

Every other package may import from here; this package imports nothing of tapeflow (a contract
in ``pyproject.toml`` checks it). Import from the modules directly
(``from tapeflow.model.errors import TapeflowError``); this ``__init__`` re-exports nothing.
"""
