"""Suites: each turns data into trials, asks the engine for embeddings, and scores them."""
