"""Tidings: activity streams, timelines, feeds, milestones and a live layer."""
