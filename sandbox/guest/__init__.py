"""The guest agent: the process inside a sandbox that executes actions and captures the screen.

Files in this folder are copied into every sandbox and run there with the guest runtime's Python,
so they import nothing from ``sandbox`` or ``cua`` (only the standard library, python-xlib,
Pillow and, for the accessibility tree, PyGObject).
"""
