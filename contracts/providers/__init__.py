"""Provider verification of the committed pacts against any Bloodbank / Candystore URL."""
