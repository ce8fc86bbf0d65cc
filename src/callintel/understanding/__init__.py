"""callintel.understanding."""
