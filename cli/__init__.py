"""The ``logd`` command tree (STYLE.md 15): one package a noun, one module a verb."""
