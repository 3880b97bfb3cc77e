"""What can be ordered and how it runs: service declarations (YAML data under services/, checked
against schema/service.schema.json), the form engine, responsibility rules and process steps.

Flask-free: `app/` renders what this package decides. Entry points: `catalogue.registry.default()`
for the shipped catalogue, `catalogue.forms.validate` for an order's answers,
`catalogue.routing.route` for the responsible authority.
"""
