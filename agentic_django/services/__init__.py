"""Orchestration between the transports (views, consumers, admin, tasks) and the models."""
