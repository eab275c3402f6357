"""pytest-lmstudio: test applications built on LM Studio."""
