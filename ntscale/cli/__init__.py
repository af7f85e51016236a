"""Command-line interface: parse, load config, call a runner; nothing else."""
