"""Tests of the node agent (store layout, resumable downloads)."""
