"""Startup reconciliation: the local books (``tapeflow.state``) made to agree with the
exchange (``tapeflow.execution``), so it sits above both.

Modules: :mod:`~tapeflow.reconcile.plan` (pure comparisons over plain records),
:mod:`~tapeflow.reconcile.report` (the report), :mod:`~tapeflow.reconcile.reconciler`
(gathering the records, applying the fixes). Import from the modules directly.
"""
