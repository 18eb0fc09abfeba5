"""Cordon node: the Flask application and everything local to one state's node.

Use :func:`node.app.create_app` to build the app; importing this package
does nothing else.
"""
