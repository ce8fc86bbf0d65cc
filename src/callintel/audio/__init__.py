"""callintel.audio."""
