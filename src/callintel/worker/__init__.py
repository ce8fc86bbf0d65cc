"""callintel.worker."""
