"""callintel.api.routes."""
