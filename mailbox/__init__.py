"""Deliveries into residents' secure mailboxes.

This package shares its name with the standard library's `mailbox`; every entry point puts the
project root first on sys.path (see app/__init__.py and DESIGN.md) so that this one is imported.
"""
