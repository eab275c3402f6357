"""Root conftest: the project's own tests run plugin scenarios in subprocesses with pytester."""

pytest_plugins = ["pytester"]
