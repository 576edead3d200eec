"""Consumer side of the contracts: models of the consumers and the tests that write the pact files."""
