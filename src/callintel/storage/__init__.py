"""callintel.storage."""
