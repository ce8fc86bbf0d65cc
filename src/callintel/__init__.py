"""callintel: self-hosted AI call intelligence for contact centers."""

__version__ = "0.1.0"
