"""End-to-end: publish through Bloodbank, read back from Candystore, every field equal."""
