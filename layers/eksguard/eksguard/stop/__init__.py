"""Scheduled stop of kubectl admin instances: pure decisions (decide), EC2/SSM edges (gateway),
batch stopping with isolation of bad instances (stopper), orchestration (run), summary (report)."""
