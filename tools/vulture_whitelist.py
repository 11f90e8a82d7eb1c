"""Names vulture (the dead-code check `./dev test` runs) cannot see being used.

Not imported by anything: vulture reads it with the code (``[tool.vulture]`` in
pyproject.toml). One group per reason; add a name here only when its use is dynamic.
"""
# ruff: noqa

# pytest fixtures requested for their side effect only (a slowed encoder, a running
# QApplication, a Qdrant server for the test)
slow_encoder
qapp
qdrant

# tools/lavis_golden/make_golden.py: keyword parameters of LAVIS's init_vision_encoder
# that the stand-in must accept (LAVIS passes them by name) but does not use
drop_path_rate
use_grad_checkpoint
