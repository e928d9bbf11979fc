"""Helpers the tests share: scripted servers, app drivers, wire builders.

Test modules import from here, never from one another."""
