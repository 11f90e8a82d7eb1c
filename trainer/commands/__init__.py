"""Subcommands of ``cirsearch-train`` (see ``trainer.cli``)."""
