"""Helpers shared by the test suites: real servers started for the tests, never mocks."""
