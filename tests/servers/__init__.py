"""Local servers that speak real exchange wire formats, for tests and benchmarks.

* :mod:`tests.servers.binance_ws`: Binance combined-stream WebSocket server replaying the real
  hftbacktest captures (with fault injection: connection drops, duplicates, reordering,
  malformed frames);
* :mod:`tests.servers.binance_rest`: Binance REST (spot ``/api/v3``, USD-M ``/fapi/v1``)
  serving exchangeInfo and the same real trades (``historicalTrades``, ``aggTrades``,
  ``trades``) for ccxt.
"""
