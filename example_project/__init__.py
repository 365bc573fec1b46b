"""A small shop served through agent endpoints: the demo and benchmark project."""
