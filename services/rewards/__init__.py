"""Rewards service: a Faust points engine with an exact ledger."""
