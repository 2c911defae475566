"""``framework ui``: a local web app to fine-tune without the command line.

Imported only by the ``ui`` command (``framework --help`` never loads Gradio). Its parts:
``form`` (the settings as CLI arguments and YAML), ``views`` (plan and render as data),
``runs`` (``framework run`` subprocesses watched through their output directories), ``after``
(chat, eval, merge, export), ``handlers`` (the events as plain functions), ``app`` (the Gradio
layout, the only module that imports Gradio) and ``serve`` (where it listens).
"""
