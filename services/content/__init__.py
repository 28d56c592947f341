"""Content service: lifecycle, targeting and publishing of what advocates share."""
