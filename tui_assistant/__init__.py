"""tui-assistant: a keyboard-first terminal client for AI assistants.

Importing the package imports nothing else: the app, the SDK and the local server are
loaded only when they are used.
"""

__version__ = "0.1.0"
