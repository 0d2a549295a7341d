"""tapeflow: order-flow analytics and trading engine for crypto markets."""

__version__ = "0.1.0"
