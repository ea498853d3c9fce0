"""The building blocks of the monosub stack, each built from the declarations.

Not to be confused with the ``constructs`` library: ``infra/app.py`` takes ``infra/`` off
``sys.path`` so that ``import constructs`` always means the library.
"""
