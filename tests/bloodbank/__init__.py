"""Tests of the reference Bloodbank service (publisher library, HTTP app, real process)."""
