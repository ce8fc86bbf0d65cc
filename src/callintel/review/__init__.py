"""QA review use cases: corrections, review queue, metrics, search, model retraining."""
