"""The PySide6 desktop app (``cua app``): the Run and Review panes over ``cua.service.Service``.

``ui`` adapts the core's plain-Python events into Qt signals and calls the service and the
agent's control object; long work runs through :mod:`ui.worker`. See docs/app.md.
"""
