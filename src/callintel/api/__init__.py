"""callintel.api."""
