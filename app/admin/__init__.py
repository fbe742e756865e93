"""The operators' admin site at /admin (sqladmin over the models, changes through the
services); see docs/admin.md."""
