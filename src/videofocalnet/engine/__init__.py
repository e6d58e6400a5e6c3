"""Training and evaluation engine: config tree (official keys), optimizer/schedule, losses, checkpoints, EMA,
distributed setup, logging, the training loop and multi-view evaluation. One module per concern; import the
module you need (``videofocalnet.engine.train``, ``.evaluate``, ``.config``...) - nothing heavy is imported here."""
