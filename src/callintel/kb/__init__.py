"""callintel.kb."""
